//! Where the call loop sends its packets, over real loopback UDP: a genuine
//! packet arriving from another address does not move the stream there
//! until that address answers a sealed probe, a peer that really moved is
//! followed once its old address stops answering, and candidates that never
//! answer get only a bounded number of checks before the call ends with no
//! path.
//!
//! The engine plays the caller; the callee is a bare `CallSession` driven
//! by the test, so the test decides which socket each of its packets
//! leaves from.

#[path = "common/handshake.rs"]
mod handshake;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use engine::audio::{AudioBackend, NullAudio};
use engine::call::{CallEnd, CallOptions, CallReport, PeerPath, run_call};
use engine::clock::unix_now;
use engine::dsp::DspConfig;
use engine::net::MediaTransport;
use proto::handshake::Established;
use proto::packet::{MediaFrame, MediaPayload};
use proto::session::{CallSession, SessionConfig};

/// The real handshake; the callee offers `callee_candidates`.
fn handshake(
    caller_addr: SocketAddr,
    callee_candidates: Vec<SocketAddr>,
) -> (Established, Established) {
    handshake::handshake(handshake::Setup {
        alice_seed: 0xA1,
        bob_seed: 0xB0,
        call_id: 9,
        randoms: [0x11, 0x33, 0x22],
        now: unix_now(),
        caller_candidates: vec![caller_addr],
        callee_candidates,
    })
}

fn bind() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
    s.set_nonblocking(true).expect("nonblocking");
    s
}

fn addr(s: &UdpSocket) -> SocketAddr {
    s.local_addr().expect("addr")
}

/// Runs the engine as the caller on `socket` for `opts`.
fn engine_caller(
    caller: Established,
    socket: UdpSocket,
    opts: CallOptions,
) -> std::thread::JoinHandle<CallReport> {
    std::thread::spawn(move || {
        let audio = NullAudio.open().expect("null audio");
        let transport = MediaTransport::from_socket(socket).expect("transport");
        run_call(caller, transport, audio, opts, &mut |_| {}).expect("call runs")
    })
}

/// Which of the test's sockets the callee uses at a moment of the call.
#[derive(Clone, Copy)]
struct Route {
    /// Its packets leave from this socket.
    send: usize,
    /// Packets arriving at this socket are opened (the others are only
    /// counted, as an address nobody answers from).
    open: usize,
}

/// Datagrams each socket received, by half-second slot of the call.
type Arrivals = Vec<Vec<u32>>;

/// Drives the callee for `length`: media every 20 ms, answers to pings
/// (sent, like everything, from the socket `route(elapsed)` names).
/// Returns the arrivals per socket and slot.
fn run_callee(
    callee: Established,
    sockets: Vec<UdpSocket>,
    engine: SocketAddr,
    length: Duration,
    route: impl Fn(Duration) -> Route,
) -> Arrivals {
    let t0 = Instant::now();
    let now = || proto::time::Instant::from_micros(t0.elapsed().as_micros() as u64);
    let mut s = CallSession::new(callee, SessionConfig::default(), now());
    let slots = (length.as_millis() / 500) as usize + 1;
    let mut arrivals: Arrivals = vec![vec![0; slots]; sockets.len()];
    let mut buf = vec![0u8; 2048];
    let data = [0u8; 40];
    let mut k = 0u32;
    while t0.elapsed() < length {
        let elapsed = t0.elapsed();
        let r = route(elapsed);
        let slot = (elapsed.as_millis() / 500) as usize;
        for (i, sock) in sockets.iter().enumerate() {
            while let Ok((n, _)) = sock.recv_from(&mut buf) {
                arrivals[i][slot] += 1;
                if i == r.open {
                    let _ = s.handle_datagram(now(), &mut buf[..n]);
                }
            }
        }
        s.handle_timeout(now());
        let frames = [MediaFrame {
            age: 0,
            data: &data,
        }];
        let payload = MediaPayload {
            timestamp: k * 960,
            frames: &frames,
        };
        k += 1;
        if let Ok(n) = s.send_media(now(), &payload, &mut buf) {
            let _ = sockets[r.send].send_to(&buf[..n], engine);
        }
        while let Some(n) = s.poll_transmit(now(), &mut buf) {
            let _ = sockets[r.send].send_to(&buf[..n], engine);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    arrivals
}

fn options(duration: Duration) -> CallOptions {
    CallOptions {
        dsp: DspConfig::off(),
        duration: Some(duration),
        ..Default::default()
    }
}

fn in_slots(a: &[u32], from: usize, to: usize) -> u32 {
    a[from..to].iter().sum()
}

/// For one second all the callee's packets (genuine, sealed) reach the
/// engine from another address, as when an attacker replays them from a
/// spoofed source ahead of the originals; nobody answers there. The engine
/// keeps sending to the genuine address, and the other address gets no
/// more than the probes.
#[test]
fn genuine_packets_from_another_address_do_not_redirect_the_stream() {
    let (a, b, x) = (bind(), bind(), bind());
    let (a_addr, b_addr) = (addr(&a), addr(&b));
    let (caller, callee) = handshake(a_addr, vec![b_addr]);
    let call = engine_caller(caller, a, options(Duration::from_secs(4)));
    let arrivals = run_callee(callee, vec![b, x], a_addr, Duration::from_secs(4), |t| {
        let attack = t >= Duration::from_secs(1) && t < Duration::from_secs(2);
        Route {
            send: usize::from(attack),
            open: 0,
        }
    });
    let report = call.join().expect("engine thread");
    assert_eq!(report.end, CallEnd::Finished);
    let (at_b, at_x) = (&arrivals[0], &arrivals[1]);
    // Slots 2 and 3 are the attack second (500 ms slots).
    let genuine_during = in_slots(at_b, 2, 4);
    assert!(
        genuine_during >= 30,
        "the stream left the genuine address: {at_b:?} / {at_x:?}"
    );
    let total_x: u32 = at_x.iter().sum();
    assert!(
        total_x as usize <= PeerPath::PROBES_PER_ADDRESS,
        "the other address got {total_x} datagrams: {at_x:?}"
    );
    assert!(report.stats.probes_sent >= 1, "no probe was sent");
    assert_eq!(report.stats.peer, Some(b_addr));
}

/// The callee moves to a new socket for good (a new network, or its NAT
/// rebound): its first packets from there get a probe, it answers from
/// there, and once the old address has stopped answering (the consent
/// timeout) the stream follows.
#[test]
fn a_peer_that_moves_and_answers_the_probe_is_followed() {
    let (a, b, c) = (bind(), bind(), bind());
    let (a_addr, b_addr, c_addr) = (addr(&a), addr(&b), addr(&c));
    let (caller, callee) = handshake(a_addr, vec![b_addr]);
    let length = Duration::from_secs(6);
    let call = engine_caller(caller, a, options(length));
    let arrivals = run_callee(callee, vec![b, c], a_addr, length, |t| {
        let moved = usize::from(t >= Duration::from_secs(1));
        Route {
            send: moved,
            open: moved,
        }
    });
    let report = call.join().expect("engine thread");
    assert_eq!(report.end, CallEnd::Finished);
    assert_eq!(report.stats.peer, Some(c_addr));
    assert_eq!(report.stats.path_switches, 1);
    // The move is noticed within the consent timeout of the old address
    // (1.2 s after its last pong) plus a ping interval: from 3.5 s on
    // (slot 7) the media goes to the new address only.
    let at_c_later = in_slots(&arrivals[1], 7, 12);
    assert!(at_c_later >= 100, "stream did not follow: {arrivals:?}");
    // The old address only gets the slow re-checks of a pair that died
    // (it may come back), not the stream: 125 packets in those 2.5 s.
    let at_b_later = in_slots(&arrivals[0], 7, 12);
    assert!(at_b_later <= 10, "stream stayed behind: {arrivals:?}");
}

/// The callee's answer lists sixteen addresses of bystanders that never
/// answer. Each gets at most `MAX_CHECKS_PER_PAIR` checks, no media at all,
/// and the call ends as one that found no path.
#[test]
fn candidates_that_never_answer_get_a_bounded_number_of_checks() {
    let a = bind();
    let victims: Vec<UdpSocket> = (0..16).map(|_| bind()).collect();
    let victim_addrs: Vec<SocketAddr> = victims.iter().map(addr).collect();
    let (caller, _callee) = handshake(addr(&a), victim_addrs);
    let opts = CallOptions {
        dsp: DspConfig::off(),
        duration: Some(Duration::from_secs(30)),
        session: SessionConfig {
            idle_timeout: Duration::from_secs(4),
            ..CallOptions::default().session
        },
        ..Default::default()
    };
    let call = engine_caller(caller, a, opts);
    let report = call.join().expect("engine thread");
    assert_eq!(report.end, CallEnd::NoPath);
    assert_eq!(report.stats.peer, None);
    assert_eq!(report.stats.path, None);
    let mut buf = [0u8; 2048];
    for (i, v) in victims.iter().enumerate() {
        let mut n = 0u32;
        while v.recv_from(&mut buf).is_ok() {
            n += 1;
        }
        // 4 s at 50 packets a second would be about 200 without the cap.
        assert!(
            n >= 5,
            "victim {i} got only {n}: were candidates tried at all?"
        );
        assert!(
            n <= PeerPath::MAX_CHECKS_PER_PAIR,
            "victim {i} got {n} datagrams"
        );
    }
}
