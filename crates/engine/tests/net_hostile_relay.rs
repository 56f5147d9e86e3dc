//! A "TURN server" that answers with junk (over UDP and over TCP) gets no
//! allocation made and no panic out of the transport: what comes from the
//! server is parsed by the TURN client and refused when it does not parse.

mod net_support;

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use engine::net::{self, GatherOptions, IceServers, NetError, TurnTransport};

/// A small deterministic generator (xorshift), so a failure replays.
struct Junk(u64);

impl Junk {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Junk that often looks like the start of a STUN message or a
    /// ChannelData header, to reach past the first checks.
    fn datagram(&mut self, request: &[u8]) -> Vec<u8> {
        let len = (self.next() % 120) as usize;
        let mut out: Vec<u8> = (0..len).map(|_| self.next() as u8).collect();
        match self.next() % 4 {
            // A response of some class to the request, with junk attributes.
            0 if request.len() >= 20 && out.len() >= 20 => {
                out[..20].copy_from_slice(&request[..20]);
                out[0] |= 0x01;
                let body = (out.len() - 20) as u16;
                out[2..4].copy_from_slice(&body.to_be_bytes());
            }
            // ChannelData with a length that may or may not fit.
            1 if out.len() >= 4 => out[0] = 0x40 | (out[0] & 0x0f),
            _ => {}
        }
        out
    }
}

fn relay_only() -> GatherOptions {
    GatherOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        relay_only: true,
        timeout: Duration::from_millis(300),
        ..GatherOptions::default()
    }
}

#[test]
fn junk_from_a_udp_relay_makes_no_allocation_and_no_panic() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let addr = server.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut junk = Junk(0x9e37_79b9_7f4a_7c15);
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, from)) = server.recv_from(&mut buf) {
                    for _ in 0..20 {
                        let _ = server.send_to(&junk.datagram(&buf[..n]), from);
                    }
                }
            }
        })
    };
    for _ in 0..5 {
        let servers = IceServers {
            stun: vec![addr],
            turn: vec![net_support::credentials_for(addr)],
        };
        let err = net::gather(&servers, &relay_only()).unwrap_err();
        assert!(matches!(err, NetError::RelayRequired), "{err:?}");
    }
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap();
}

#[test]
fn junk_from_a_tcp_relay_makes_no_allocation_and_no_panic() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let mut junk = Junk(0x2545_f491_4f6c_dd1d);
        for _ in 0..5 {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut buf = [0u8; 2048];
            let n = stream.read(&mut buf).unwrap_or(0);
            for _ in 0..50 {
                if stream.write_all(&junk.datagram(&buf[..n])).is_err() {
                    break;
                }
            }
        }
    });
    for _ in 0..5 {
        let mut turn = net_support::credentials_for(addr);
        turn.transport = TurnTransport::Tcp;
        let servers = IceServers {
            stun: vec![],
            turn: vec![turn],
        };
        let err = net::gather(&servers, &relay_only()).unwrap_err();
        assert!(matches!(err, NetError::RelayRequired), "{err:?}");
    }
    thread.join().unwrap();
}
