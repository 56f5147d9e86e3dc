//! A running call is steered through its [`CallHandle`]: mute sends
//! silence the far end really hears as silence, and hang-up ends both ends
//! (the far one through the goodbye). Real keys, real loopback sockets.

#[path = "common/handshake.rs"]
mod handshake;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use engine::audio::{AudioBackend, NullAudio, WavAudio};
use engine::call::{Call, CallEnd, CallOptions};
use engine::clock::unix_now;
use engine::dsp::DspConfig;
use engine::net::MediaTransport;
use proto::handshake::Established;

fn handshake(caller_addr: SocketAddr, callee_addr: SocketAddr) -> (Established, Established) {
    handshake::handshake(handshake::Setup {
        alice_seed: 0xC1,
        bob_seed: 0xC2,
        call_id: 3,
        randoms: [0x12, 0x34, 0x56],
        now: unix_now(),
        caller_candidates: vec![caller_addr],
        callee_candidates: vec![callee_addr],
    })
}

/// Ten seconds of a loud, steady vowel-like tone: never quiet for long.
fn write_talker(path: &std::path::Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for i in 0..48_000 * 10 {
        let t = i as f32 / 48_000.0;
        let v: f32 = (1..5)
            .map(|h| (std::f32::consts::TAU * 160.0 * h as f32 * t).sin() / h as f32)
            .sum();
        w.write_sample((0.25 * v * 32767.0) as i16).expect("write");
    }
    w.finalize().expect("finalize");
}

fn options() -> CallOptions {
    CallOptions {
        dsp: DspConfig::off(),
        duration: Some(Duration::from_secs(30)),
        ..CallOptions::default()
    }
}

#[test]
fn mute_sends_silence_and_hang_up_ends_both_ends() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in.wav");
    write_talker(&input);
    let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let b = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let (caller, callee) = handshake(a.local_addr().expect("addr"), b.local_addr().expect("addr"));
    let talking = WavAudio {
        input: Some(input),
        output: None,
    }
    .open()
    .expect("wav audio");
    let (a, b) = (
        MediaTransport::from_socket(a).expect("transport"),
        MediaTransport::from_socket(b).expect("transport"),
    );
    let caller = Call::new(caller, a, talking, options()).expect("caller set up");
    let callee =
        Call::new(callee, b, NullAudio.open().expect("null"), options()).expect("callee set up");
    let (alice, bob) = (caller.handle(), callee.handle());
    alice.set_muted(true);
    let caller = std::thread::spawn(move || caller.run(&mut |_| {}).expect("caller runs"));
    let callee = std::thread::spawn(move || callee.run(&mut |_| {}).expect("callee runs"));

    // Muted: the microphone reads silence, and so does the far speaker
    // (after the first second, which may still hold the start-up).
    std::thread::sleep(Duration::from_secs(1));
    bob.levels().take();
    std::thread::sleep(Duration::from_millis(1500));
    let (mic, _) = alice.levels().take();
    let (_, heard) = bob.levels().take();
    assert_eq!(mic, 0.0, "a muted microphone reads silence");
    assert!(heard < 0.01, "the far end heard {heard} while muted");

    // Unmuted: the far end hears the tone. Polled, not timed: a debug
    // build on a loaded machine may run late, and lateness is not what this
    // test is about.
    alice.set_muted(false);
    assert!(!alice.is_muted());
    let mut loudest = 0.0f32;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        loudest = loudest.max(bob.levels().take().1);
        if loudest > 0.1 {
            break;
        }
    }
    assert!(
        loudest > 0.1,
        "the far end heard only {loudest} after unmuting"
    );

    alice.hang_up();
    let (mine, theirs) = (
        caller.join().expect("caller thread"),
        callee.join().expect("callee thread"),
    );
    assert_eq!(mine.end, CallEnd::HungUp);
    assert_eq!(theirs.end, CallEnd::PeerHungUp);
}
