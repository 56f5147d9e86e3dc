#!/usr/bin/env python3
"""Plain UDP probes for nat-0-network.sh, which checks that the namespaced
network behaves as the NAT suites assume before any call is blamed.

  udp_probe.py punch LOCAL_PORT DEST_IP DEST_PORT SECONDS
      sends a datagram every 50 ms from LOCAL_PORT to DEST for SECONDS and
      prints the source of the first datagram received ("none" if nothing came).
  udp_probe.py mirror PORT...
      answers every datagram with the address it came from, as text.
  udp_probe.py mapped DEST_IP PORT...
      from one socket, asks the mirror on DEST at each PORT which address it
      saw, and prints one "ip port" line per PORT.
"""
import selectors
import socket
import sys
import time


def family(ip):
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def punch(local_port, ip, port, seconds):
    s = socket.socket(family(ip), socket.SOCK_DGRAM)
    s.bind(("::" if ":" in ip else "0.0.0.0", local_port))
    s.settimeout(0.05)
    got, end = None, time.monotonic() + seconds
    while time.monotonic() < end:
        s.sendto(b"punch", (ip, port))
        try:
            _, addr = s.recvfrom(64)
            got = got or addr
        except socket.timeout:
            pass
    print(f"{got[0]} {got[1]}" if got else "none")


def mirror(ports):
    sel = selectors.DefaultSelector()
    for p in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", p))
        sel.register(s, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            _, addr = key.fileobj.recvfrom(64)
            key.fileobj.sendto(f"{addr[0]} {addr[1]}".encode(), addr)


def mapped(ip, ports):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    s.settimeout(0.2)
    for p in ports:
        for _ in range(10):
            s.sendto(b"?", (ip, p))
            try:
                print(s.recvfrom(64)[0].decode())
                break
            except socket.timeout:
                continue
        else:
            print("none")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "punch":
        punch(int(args[0]), args[1], int(args[2]), float(args[3]))
    elif cmd == "mirror":
        mirror([int(p) for p in args])
    elif cmd == "mapped":
        mapped(args[0], [int(p) for p in args[1:]])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
