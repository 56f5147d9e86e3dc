#!/usr/bin/env python3
"""Asks an X11 window to close the way a window manager does when the user
clicks its close button: a WM_PROTOCOLS/WM_DELETE_WINDOW client message.

    x11-close.py WINDOW_ID        (e.g. 0x200003, from `xwininfo -root -tree`)

Xvfb runs no window manager, and `xdotool windowclose` destroys the window
instead of asking it, which skips the application's own quit path. This
speaks the few requests needed of the X11 protocol directly (standard
library only), on the display named by $DISPLAY (local socket, no auth).
"""
import os
import socket
import struct
import sys


def pad(n):
    return (4 - n % 4) % 4


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise SystemExit("X server closed the connection")
        data += chunk
    return data


def connect(display):
    number = display.split(":", 1)[1].split(".", 1)[0]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(f"/tmp/.X11-unix/X{number}")
    # Connection setup: little-endian, protocol 11.0, no authorization.
    sock.sendall(struct.pack("<BxHHHHxx", ord("l"), 11, 0, 0, 0))
    status, _, _, _, extra = struct.unpack("<BBHHH", recv_exact(sock, 8))
    body = recv_exact(sock, extra * 4)
    if status != 1:
        raise SystemExit(f"X connection refused: {body!r}")
    return sock


def intern_atom(sock, name):
    raw = name.encode()
    req = struct.pack("<BBHHxx", 16, 0, (8 + len(raw) + pad(len(raw))) // 4, len(raw))
    sock.sendall(req + raw + b"\0" * pad(len(raw)))
    reply = recv_exact(sock, 32)
    if reply[0] != 1:
        raise SystemExit(f"InternAtom {name} failed (code {reply[1]})")
    return struct.unpack_from("<I", reply, 8)[0]


def main():
    window = int(sys.argv[1], 0)
    sock = connect(os.environ["DISPLAY"])
    protocols = intern_atom(sock, "WM_PROTOCOLS")
    delete = intern_atom(sock, "WM_DELETE_WINDOW")
    # ClientMessage (33), format 32: data[0] = WM_DELETE_WINDOW, data[1] = CurrentTime.
    event = struct.pack("<BBHII5I", 33, 32, 0, window, protocols, delete, 0, 0, 0, 0)
    # SendEvent (25), propagate = False, event mask 0 (to the window's owner).
    sock.sendall(struct.pack("<BBHII", 25, 0, 11, window, 0) + event)
    # A round trip (InternAtom again) makes sure the server processed it;
    # an error for the SendEvent (bad window) would arrive first.
    raw = b"WM_PROTOCOLS"
    sock.sendall(struct.pack("<BBHHxx", 16, 1, (8 + len(raw) + pad(len(raw))) // 4, len(raw)) + raw)
    reply = recv_exact(sock, 32)
    if reply[0] == 0:
        raise SystemExit(f"X error {reply[1]} sending WM_DELETE_WINDOW to {window:#x}")
    sock.close()


if __name__ == "__main__":
    main()
