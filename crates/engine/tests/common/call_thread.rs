//! Each end of a real call on its own thread, with silent audio and every
//! stats snapshot it reported, for the tests that run two engines against
//! each other over real UDP. Included with `#[path]` by those tests, so
//! the registry tests that share `common/mod.rs` do not carry it.

// Each test file uses a different part.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use engine::audio::{AudioBackend, NullAudio};
use engine::call::{Call, CallHandle, CallOptions, CallReport, CallStats};
use engine::dsp::DspConfig;
use engine::net::MediaTransport;
use proto::handshake::Established;

/// The stats one side reported, each with the time since its thread began.
pub type Snapshots = Vec<(Duration, CallStats)>;

/// A UDP socket on a free loopback port.
pub fn bind() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind loopback")
}

pub fn addr(s: &UdpSocket) -> SocketAddr {
    s.local_addr().expect("addr")
}

/// A call that ends by itself after `duration`, with no voice processing
/// and a stats snapshot every 250 ms.
pub fn options(duration: Duration) -> CallOptions {
    CallOptions {
        dsp: DspConfig::off(),
        duration: Some(duration),
        stats_interval: Duration::from_millis(250),
        ..CallOptions::default()
    }
}

/// The far end: sends back what it hears until the test hangs it up
/// (30 s at the most).
pub fn echo() -> CallOptions {
    CallOptions {
        echo: true,
        ..options(Duration::from_secs(30))
    }
}

/// Runs one side of the call on its own thread; every stats snapshot is
/// kept with the time it was taken.
pub fn side(
    established: Established,
    transport: MediaTransport,
    opts: CallOptions,
    handle: CallHandle,
) -> JoinHandle<(CallReport, Snapshots)> {
    std::thread::spawn(move || {
        let t0 = Instant::now();
        let mut seen = Vec::new();
        let audio = NullAudio.open().expect("null audio");
        let report = Call::with_handle(established, transport, audio, opts, handle)
            .expect("call set up")
            .run(&mut |s| seen.push((t0.elapsed(), s.clone())))
            .expect("call runs");
        (report, seen)
    })
}

/// [`side`] with media on a plain UDP socket (no relay).
pub fn side_on(
    established: Established,
    socket: UdpSocket,
    opts: CallOptions,
    handle: CallHandle,
) -> JoinHandle<(CallReport, Snapshots)> {
    let transport = MediaTransport::from_socket(socket).expect("transport");
    side(established, transport, opts, handle)
}

/// Datagrams waiting at `socket` (read and counted).
pub fn drain(socket: &UdpSocket) -> u32 {
    socket.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while socket.recv_from(&mut buf).is_ok() {
        n += 1;
    }
    n
}

/// Packets that came in from the first snapshot at or after `from` to the
/// end of the call: whether media kept flowing late in it.
pub fn received_since(seen: &[(Duration, CallStats)], report: &CallReport, from: Duration) -> u64 {
    let then = seen
        .iter()
        .find(|(t, _)| *t >= from)
        .map(|(_, s)| s.packets_received)
        .expect("late stats");
    report.stats.packets_received - then
}
