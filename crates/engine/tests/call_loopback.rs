//! Real calls over loopback UDP with real keys: the proto handshake runs in
//! process, then two engines exchange sealed media through real sockets.
//! One behaviour per test: echo round trip, peer killed, garbage flood.

#[path = "common/handshake.rs"]
mod handshake;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use engine::audio::{AudioBackend, NullAudio, WavAudio, read_wav_mono_48k};
use engine::call::{Call, CallEnd, CallHandle, CallOptions, CallReport, run_call};
use engine::clock::unix_now;
use engine::dsp::DspConfig;
use engine::net::MediaTransport;
use proto::handshake::Established;
use proto::packet::{MediaFrame, MediaPayload};
use proto::session::{CallSession, SessionConfig};

/// Runs the real handshake between two fresh identities whose media
/// sockets are `caller_addr` and `callee_addr`.
fn handshake(caller_addr: SocketAddr, callee_addr: SocketAddr) -> (Established, Established) {
    handshake::handshake(handshake::Setup {
        alice_seed: 0xA1,
        bob_seed: 0xB0,
        call_id: 7,
        randoms: [0x11, 0x33, 0x22],
        now: unix_now(),
        caller_candidates: vec![caller_addr],
        callee_candidates: vec![callee_addr],
    })
}

fn bind() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind loopback")
}

/// Speech-like test signal: harmonic syllables with pauses.
fn talker(seconds: f32) -> Vec<f32> {
    let n = (48_000.0 * seconds) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / 48_000.0;
            let syllable = (t * 3.0).fract();
            let talking = (t % 1.5) < 1.0;
            let env = if talking {
                (syllable * std::f32::consts::PI).sin()
            } else {
                0.0
            };
            let f0 = 150.0 + 30.0 * (t * 0.9).sin();
            let v: f32 = (1..6)
                .map(|h| (2.0 * std::f32::consts::PI * f0 * h as f32 * t).sin() / h as f32)
                .sum();
            0.25 * env * v
        })
        .collect()
}

fn write_wav(path: &std::path::Path, x: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for &s in x {
        w.write_sample((s * 32767.0) as i16).expect("write");
    }
    w.finalize().expect("finalize");
}

/// 10 ms RMS envelope.
fn envelope(x: &[f32]) -> Vec<f32> {
    x.chunks(480)
        .map(|c| (c.iter().map(|v| v * v).sum::<f32>() / c.len() as f32).sqrt())
        .collect()
}

/// Normalised correlation of two equal-length envelopes.
fn correlation(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len()) as f32;
    let (mx, my) = (x.iter().sum::<f32>() / n, y.iter().sum::<f32>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (p, q) in x.iter().zip(y) {
        sxy += (p - mx) * (q - my);
        sxx += (p - mx) * (p - mx);
        syy += (q - my) * (q - my);
    }
    sxy / (sxx * syy).sqrt().max(1e-12)
}

/// How well `returned` follows `reference`: the reference envelope is cut
/// into 1 s windows, each window is matched at its best lag (up to
/// `max_lag` blocks of 10 ms), and the median of the window correlations is
/// returned with the median lag. Windows, not one global lag, because the
/// adaptive jitter buffers on both legs may stretch or shrink the delay
/// during the call; the content must survive, the alignment may move.
fn envelope_match(reference: &[f32], returned: &[f32], max_lag: usize) -> (f32, usize) {
    const WINDOW: usize = 100;
    let (a, b) = (envelope(reference), envelope(returned));
    let mut scores = Vec::new();
    let mut lags = Vec::new();
    for start in (0..a.len().saturating_sub(WINDOW - 1)).step_by(WINDOW) {
        let x = &a[start..start + WINDOW];
        let mut best = (f32::MIN, 0);
        for lag in 0..max_lag {
            let Some(y) = b.get(start + lag..start + lag + WINDOW) else {
                break;
            };
            let r = correlation(x, y);
            if r > best.0 {
                best = (r, lag);
            }
        }
        if best.0 > f32::MIN {
            scores.push(best.0);
            lags.push(best.1);
        }
    }
    assert!(scores.len() >= 3, "too little returned audio to compare");
    scores.sort_by(f32::total_cmp);
    lags.sort_unstable();
    (scores[scores.len() / 2], lags[lags.len() / 2])
}

fn wav_options(duration: Duration) -> CallOptions {
    CallOptions {
        dsp: DspConfig::off(),
        duration: Some(duration),
        ..Default::default()
    }
}

/// Starts an echo bot on its own thread; returns its handle.
fn echo_bot(
    established: Established,
    socket: UdpSocket,
) -> (CallHandle, std::thread::JoinHandle<CallReport>) {
    let opts = CallOptions {
        echo: true,
        dsp: DspConfig::off(),
        duration: Some(Duration::from_secs(30)),
        ..Default::default()
    };
    let bot = CallHandle::default();
    let handle = {
        let bot = bot.clone();
        std::thread::spawn(move || {
            let audio = NullAudio.open().expect("null audio");
            let transport = MediaTransport::from_socket(socket).expect("transport");
            Call::with_handle(established, transport, audio, opts, bot)
                .expect("echo bot set up")
                .run(&mut |_| {})
                .expect("echo bot runs")
        })
    };
    (bot, handle)
}

#[test]
fn echo_call_returns_the_input() {
    let dir = tempfile::tempdir().expect("tmp");
    let (input, output) = (dir.path().join("in.wav"), dir.path().join("out.wav"));
    let signal = talker(4.0);
    write_wav(&input, &signal);
    let (a, b) = (bind(), bind());
    let (caller, callee) = handshake(a.local_addr().expect("addr"), b.local_addr().expect("addr"));
    let (bot_stop, bot) = echo_bot(callee, b);
    let audio = WavAudio {
        input: Some(input),
        output: Some(output.clone()),
    }
    .open()
    .expect("wav audio");
    let report = run_call(
        caller,
        MediaTransport::from_socket(a).expect("transport"),
        audio,
        wav_options(Duration::from_secs(7)),
        &mut |_| {},
    )
    .expect("call runs");
    let bot_report = bot.join().expect("bot thread");
    bot_stop.hang_up();
    assert_eq!(report.end, CallEnd::Finished);
    assert_eq!(bot_report.end, CallEnd::PeerHungUp);
    // Every datagram of the call had the same size, both ways.
    assert_eq!(
        report.stats.sent_sizes.len(),
        1,
        "{:?}",
        report.stats.sent_sizes
    );
    assert_eq!(report.stats.received_sizes, report.stats.sent_sizes);
    assert!(report.stats.first_audio_ms.is_some());
    let returned = read_wav_mono_48k(&output).expect("output wav");
    if let Ok(keep) = std::env::var("PQVOICE_KEEP_WAV") {
        std::fs::copy(&output, keep).expect("keep output");
    }
    // Lags up to 2 s: an unoptimised debug build on a loaded machine can fall
    // behind real time; latency is measured by the release benchmark.
    let (r, lag) = envelope_match(&signal, &returned, 200);
    assert!(
        r > 0.8,
        "returned audio does not match the input: r = {r} at {lag}0 ms"
    );
}

#[test]
fn a_silent_peer_ends_the_call_with_a_timeout() {
    let (a, b) = (bind(), bind());
    let b_addr = b.local_addr().expect("addr");
    let (caller, callee) = handshake(a.local_addr().expect("addr"), b_addr);
    // The "peer" sends one second of valid media, then dies without a bye.
    let a_addr = a.local_addr().expect("addr");
    let peer = std::thread::spawn(move || {
        let t0 = Instant::now();
        let now = || proto::time::Instant::from_micros(t0.elapsed().as_micros() as u64);
        let mut s = CallSession::new(callee, SessionConfig::default(), now());
        let mut buf = vec![0u8; s.packet_len()];
        let data = [0u8; 40];
        for k in 0..50u32 {
            let frames = [MediaFrame {
                age: 0,
                data: &data,
            }];
            let payload = MediaPayload {
                timestamp: k * 960,
                frames: &frames,
            };
            let n = s.send_media(now(), &payload, &mut buf).expect("fits");
            b.send_to(&buf[..n], a_addr).expect("send");
            std::thread::sleep(Duration::from_millis(20));
        }
        Instant::now()
    });
    let audio = NullAudio.open().expect("null audio");
    let report = run_call(
        caller,
        MediaTransport::from_socket(a).expect("transport"),
        audio,
        CallOptions {
            dsp: DspConfig::off(),
            duration: Some(Duration::from_secs(30)),
            ..Default::default()
        },
        &mut |_| {},
    )
    .expect("call runs");
    let died = peer.join().expect("peer thread");
    assert_eq!(report.end, CallEnd::TimedOut);
    let after = died.elapsed();
    assert!(after < Duration::from_secs(12), "took {after:?} to notice");
    assert!(report.stats.packets_received >= 40);
}

#[test]
fn a_garbage_flood_changes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let (input, output) = (dir.path().join("in.wav"), dir.path().join("out.wav"));
    let signal = talker(4.0);
    write_wav(&input, &signal);
    let (a, b) = (bind(), bind());
    let a_addr = a.local_addr().expect("addr");
    let (caller, callee) = handshake(a_addr, b.local_addr().expect("addr"));
    let packet_len = usize::from(handshake::profile().packet_len);
    let (bot_stop, bot) = echo_bot(callee, b);
    // The attacker knows the port and the packet size, not the keys.
    let flooding = Arc::new(AtomicBool::new(true));
    let flood = {
        let flooding = flooding.clone();
        std::thread::spawn(move || {
            let s = bind();
            let mut rng = engine::netsim::SimRng::new(99);
            let mut sent = 0u64;
            let mut buf = vec![0u8; 1500];
            while flooding.load(Ordering::Relaxed) {
                let len = match rng.next_u64() % 4 {
                    0 => packet_len,
                    1 => 1 + (rng.next_u64() % 1400) as usize,
                    2 => 0,
                    _ => 10,
                };
                for b in &mut buf[..len] {
                    *b = rng.next_u64() as u8;
                }
                if len > 0 {
                    // A plausible header: right type byte, epoch 0.
                    buf[0] = proto::packet::TYPE_BYTE;
                }
                if len > 1 {
                    buf[1] = 0;
                }
                let _ = s.send_to(&buf[..len], a_addr);
                sent += 1;
                if sent.is_multiple_of(20) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            sent
        })
    };
    let audio = WavAudio {
        input: Some(input),
        output: Some(output.clone()),
    }
    .open()
    .expect("wav audio");
    let report = run_call(
        caller,
        MediaTransport::from_socket(a).expect("transport"),
        audio,
        wav_options(Duration::from_secs(7)),
        &mut |_| {},
    )
    .expect("call runs");
    flooding.store(false, Ordering::Relaxed);
    let sent = flood.join().expect("flood thread");
    bot_stop.hang_up();
    let _ = bot.join();
    assert_eq!(report.end, CallEnd::Finished);
    assert!(sent > 1000, "flood too small: {sent}");
    assert!(report.stats.rejected > 500, "{}", report.stats.rejected);
    // The peer never moved to the attacker's address.
    assert_ne!(report.stats.peer, None);
    assert_eq!(report.stats.received_sizes.len(), 1);
    let returned = read_wav_mono_48k(&output).expect("output wav");
    let (r, _) = envelope_match(&signal, &returned, 200);
    assert!(r > 0.8, "audio disturbed by the flood: r = {r}");
}
