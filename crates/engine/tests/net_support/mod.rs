//! What the net_* tests share: a real coturn on loopback, TURN REST
//! credentials for it, a UDP forwarder that stands in for a NAT (and lets a
//! test see the datagrams on the wire), gathering on loopback (through that
//! tap or not), and a loop that drives transports.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::net::{
    self, GatherOptions, Gathered, IceServers, MediaTransport, Route, TurnServer, TurnTransport,
};

/// The shared secret coturn and the tests mint credentials from.
const SECRET: &str = "net-test-secret-not-for-production";

/// The size of a sealed media packet in the default profile.
pub const PACKET_LEN: usize = 240;

/// The shared coturn runner (tests/common/coturn.rs): a real `turnserver`
/// on 127.0.0.1 (UDP and TCP on one port), `use-auth-secret`, loopback
/// peers allowed, killed on drop.
#[path = "../common/coturn.rs"]
mod runner;

/// A running coturn and the way to mint credentials for it.
pub struct Coturn {
    _runner: runner::Coturn,
    pub addr: SocketAddr,
}

impl Coturn {
    /// coturn with its test defaults. The net tests are about the relay,
    /// so a missing `turnserver` is a failure here, not a skip.
    pub fn start() -> Coturn {
        Self::start_with(&[])
    }

    /// With extra configuration lines (`denied-peer-ip=...`).
    pub fn start_with(extra: &[&str]) -> Coturn {
        Self::start_on(std::net::Ipv4Addr::LOCALHOST.into(), extra)
    }

    /// Listening and relaying on `ip` (`::1` for an IPv6 relay).
    pub fn start_on(ip: std::net::IpAddr, extra: &[&str]) -> Coturn {
        let mut options = runner::CoturnOptions::new(SECRET);
        options.ip = ip;
        options.extra = extra.iter().map(|line| line.to_string()).collect();
        let runner = runner::Coturn::start_with(&options)
            .expect("coturn's turnserver (Debian package coturn) must be installed");
        Coturn {
            addr: runner.addr,
            _runner: runner,
        }
    }

    /// The server with fresh TURN REST credentials, as the registry issues
    /// them: `expiry:name` and base64(HMAC-SHA1(secret, username)).
    pub fn turn(&self, transport: TurnTransport) -> TurnServer {
        self.turn_at(self.addr, transport)
    }

    /// The same credentials, for the server reached at `addr` (a forwarder
    /// in front of it).
    pub fn turn_at(&self, addr: SocketAddr, transport: TurnTransport) -> TurnServer {
        let expiry = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        let username = format!("{expiry}:net-test");
        let password = registry::ice::turn_password(SECRET.as_bytes(), &username);
        TurnServer {
            addr,
            transport,
            username,
            password: zeroize::Zeroizing::new(password),
        }
    }
}

/// One datagram a [`Forwarder`] passed on.
#[derive(Debug, Clone)]
pub struct Seen {
    /// True for client → server.
    pub outbound: bool,
    pub len: usize,
    pub bytes: Vec<u8>,
}

impl Seen {
    /// The STUN message type (method and class) of a datagram long enough
    /// to hold a STUN header; `None` for anything shorter.
    pub fn stun_type(&self) -> Option<u16> {
        if self.bytes.len() < 20 {
            return None;
        }
        Some(u16::from_be_bytes([self.bytes[0], self.bytes[1]]))
    }
}

/// How many datagrams in `seen` going the given way are STUN messages of
/// type `msg_type` (0x0004 a Refresh request, 0x0104 its success answer).
pub fn count_stun(seen: &[Seen], outbound: bool, msg_type: u16) -> usize {
    seen.iter()
        .filter(|s| s.outbound == outbound && s.stun_type() == Some(msg_type))
        .count()
}

/// A one-client UDP forwarder: what reaches `front` goes on to `target`
/// from another socket, and answers come back. To the server it looks like
/// a NAT (a different source address); to the test it is a wire tap.
pub struct Forwarder {
    pub front: SocketAddr,
    /// The address the server sees the client at.
    pub outside: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Forwarder {
    pub fn start(target: SocketAddr) -> Forwarder {
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        let back = UdpSocket::bind("127.0.0.1:0").unwrap();
        front
            .set_read_timeout(Some(Duration::from_millis(2)))
            .unwrap();
        back.set_read_timeout(Some(Duration::from_millis(2)))
            .unwrap();
        let front_addr = front.local_addr().unwrap();
        let outside = back.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let seen = seen.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut client: Option<SocketAddr> = None;
                let mut buf = vec![0u8; 65_536];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((n, from)) = front.recv_from(&mut buf) {
                        client = Some(from);
                        seen.lock().unwrap().push(Seen {
                            outbound: true,
                            len: n,
                            bytes: buf[..n].to_vec(),
                        });
                        let _ = back.send_to(&buf[..n], target);
                    }
                    if let Ok((n, from)) = back.recv_from(&mut buf) {
                        if from != target {
                            continue;
                        }
                        seen.lock().unwrap().push(Seen {
                            outbound: false,
                            len: n,
                            bytes: buf[..n].to_vec(),
                        });
                        if let Some(client) = client {
                            let _ = front.send_to(&buf[..n], client);
                        }
                    }
                }
            })
        };
        Forwarder {
            front: front_addr,
            outside,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A test media packet: the call's constant size, a first byte outside the
/// STUN and ChannelData ranges (as sealed packets have), a sequence number.
pub fn packet(seq: u32) -> Vec<u8> {
    let mut p = vec![0x5a; PACKET_LEN];
    p[0] = 0x90;
    p[1..5].copy_from_slice(&seq.to_be_bytes());
    p
}

/// Drives `transport`'s timers and reads everything it has, returning the
/// datagrams that came out.
pub fn drain(transport: &mut MediaTransport) -> Vec<(Route, Vec<u8>)> {
    let now = Instant::now();
    if transport.poll_timeout().is_some_and(|at| at <= now) {
        transport.handle_timeout(now);
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; 2048];
    while let Some((route, n)) = transport.recv(&mut buf, now).expect("recv") {
        out.push((route, buf[..n].to_vec()));
    }
    out
}

/// Sends `route` from `from` every 10 ms, draining both transports, until
/// `to` receives a datagram for which `want` holds (or 5 s pass). Returns
/// that datagram.
pub fn deliver(
    from: &mut MediaTransport,
    route: Route,
    to: &mut MediaTransport,
    want: impl Fn(&Route, &[u8]) -> bool,
) -> (Route, Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seq = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "nothing arrived over {route:?} in 5 s"
        );
        from.send(route, &packet(seq), Instant::now())
            .expect("send");
        seq += 1;
        for _ in 0..5 {
            drain(from);
            if let Some(got) = drain(to).into_iter().find(|(r, p)| want(r, p)) {
                return got;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Credentials for a "TURN server" at `addr` that is not coturn (one that
/// never answers, say).
pub fn credentials_for(addr: SocketAddr) -> TurnServer {
    TurnServer {
        addr,
        transport: TurnTransport::Udp,
        username: "0:nobody".into(),
        password: zeroize::Zeroizing::new("nothing".into()),
    }
}

/// `turn` as the only servers, no STUN.
pub fn turn_only(turn: Vec<TurnServer>) -> IceServers {
    IceServers { stun: vec![], turn }
}

/// Gathers from `servers` on a free port of 127.0.0.1.
pub fn gather_loopback(servers: &IceServers, relay_only: bool) -> Gathered {
    let opts = GatherOptions {
        listen: "127.0.0.1:0".parse().expect("literal"),
        relay_only,
        ..GatherOptions::default()
    };
    net::gather(servers, &opts).expect("gathering")
}

/// A relay-only transport on loopback whose one server is `coturn` over
/// UDP, reached through a [`Forwarder`] that records the wire: the tap and
/// what was gathered.
pub fn gather_tapped_relay(coturn: &Coturn) -> (Forwarder, Gathered) {
    let tap = Forwarder::start(coturn.addr);
    let servers = turn_only(vec![coturn.turn_at(tap.front, TurnTransport::Udp)]);
    let gathered = gather_loopback(&servers, true);
    (tap, gathered)
}
