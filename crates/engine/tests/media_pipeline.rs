//! The media pipeline end to end in virtual time: a [`MediaSender`] feeds a
//! real sealed [`CallSession`], datagrams cross the seeded impairment model,
//! the far session opens them and a [`MediaReceiver`] plays them out; the
//! far session's receiver reports travel back through their own impaired
//! direction and steer the sender's protection mode. No sockets and no
//! clock: the same seed gives the same call, so the counts below are exact
//! properties of the pipeline, not of the machine.

#[path = "common/handshake.rs"]
mod handshake;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use engine::codec::{CodecConfig, DEFAULT_REDUNDANCY, FRAME_SAMPLES};
use engine::jitter::{JitterConfig, JitterStats};
use engine::media::{MediaReceiver, MediaSender, Protection};
use engine::netsim::{Fate, Impairment, ImpairmentConfig};
use proto::handshake::Established;
use proto::session::{CallSession, Incoming, SessionConfig};
use proto::time::{Instant, UnixTime};

const FRAME: Duration = Duration::from_millis(20);

/// Both ends of a finished handshake, with fixed keys and seeds.
fn established() -> (Established, Established) {
    handshake::handshake(handshake::Setup {
        alice_seed: 0x5A,
        bob_seed: 0x5B,
        call_id: 9,
        randoms: [0x44, 0x55, 0x66],
        // Any fixed time inside the offer's freshness window works: nothing
        // here reads the wall clock.
        now: UnixTime::from_secs(1_800_000_000),
        caller_candidates: vec!["127.0.0.1:1".parse().expect("address")],
        callee_candidates: vec!["127.0.0.1:2".parse().expect("address")],
    })
}

fn at(t: Duration) -> Instant {
    Instant::from_micros(t.as_micros() as u64)
}

/// A voiced talker with pauses, so the codec sees onsets and silence.
fn talker(frame: u32, out: &mut [f32]) {
    for (i, x) in out.iter_mut().enumerate() {
        let t = (frame as usize * FRAME_SAMPLES + i) as f32 / 48_000.0;
        let on = (t % 2.0) < 1.4;
        let env = if on {
            ((t * 3.0).fract() * std::f32::consts::PI).sin()
        } else {
            0.0
        };
        let f0 = 130.0 + 25.0 * (t * 0.8).sin();
        let v: f32 = (1..6)
            .map(|h| (std::f32::consts::TAU * f0 * h as f32 * t).sin() / h as f32)
            .sum();
        *x = 0.2 * env * v;
    }
}

/// One direction of the simulated network: datagrams keyed by delivery
/// time (and a sequence number, so equal times keep their order).
struct Link {
    model: Impairment,
    queue: BTreeMap<(Duration, u64), Vec<u8>>,
    seq: u64,
}

impl Link {
    fn new(cfg: ImpairmentConfig, seed: u64) -> Self {
        Self {
            model: Impairment::new(cfg, seed),
            queue: BTreeMap::new(),
            seq: 0,
        }
    }

    fn send(&mut self, now: Duration, datagram: &[u8]) {
        if let Fate::Deliver { at, duplicate_at } = self.model.decide(now) {
            for t in std::iter::once(at).chain(duplicate_at) {
                self.seq += 1;
                self.queue.insert((t, self.seq), datagram.to_vec());
            }
        }
    }

    /// The next datagram due by `now`, with its delivery time.
    fn due(&mut self, now: Duration) -> Option<(Duration, Vec<u8>)> {
        let (&(t, seq), _) = self.queue.first_key_value()?;
        if t > now {
            return None;
        }
        self.queue.remove(&(t, seq)).map(|d| (t, d))
    }
}

struct Outcome {
    frames_sent: u32,
    /// Every sealed datagram length the caller sent (media and control).
    sizes: BTreeSet<usize>,
    packet_len: usize,
    /// Distinct frame-byte totals of the media payloads.
    payload_frame_bytes: BTreeSet<usize>,
    receiver: JitterStats,
    protection: Protection,
    switches: u64,
    rejected: u64,
}

/// `seconds` of the caller talking to the callee over `forward`, with the
/// callee's control packets coming back over `back`.
fn call(forward: ImpairmentConfig, back: ImpairmentConfig, seed: u64, seconds: u32) -> Outcome {
    let (caller, callee) = established();
    let config = SessionConfig {
        report_interval: Duration::from_secs(1),
        ping_interval: Duration::from_secs(2),
        ..SessionConfig::default()
    };
    let mut a = CallSession::new(caller, config, at(Duration::ZERO));
    let mut b = CallSession::new(callee, config, at(Duration::ZERO));
    let packet_len = a.packet_len();
    let mut sender = MediaSender::for_call(
        CodecConfig::default(),
        packet_len,
        usize::from(DEFAULT_REDUNDANCY),
    )
    .expect("sender");
    let mut receiver = MediaReceiver::new(JitterConfig::default()).expect("receiver");
    let mut ab = Link::new(forward, seed);
    let mut ba = Link::new(back, seed ^ 0xBACC);

    let mut buf = vec![0u8; 2048];
    let mut pcm = vec![0.0f32; FRAME_SAMPLES];
    let mut played = vec![0.0f32; FRAME_SAMPLES];
    let mut sizes = BTreeSet::new();
    let mut payload_frame_bytes = BTreeSet::new();
    let mut rejected = 0;
    let frames = seconds * 50;
    let mut first_arrival: Option<Duration> = None;
    let mut tick = 0u32;
    loop {
        let now = FRAME * tick;
        tick += 1;
        // Arrivals up to now, each at its own delivery time.
        while let Some((t, mut d)) = ab.due(now) {
            match b.handle_datagram(at(t), &mut d) {
                Ok(Incoming::Media(m)) => {
                    first_arrival.get_or_insert(t);
                    receiver.on_media(t, m.timestamp, m.frames());
                }
                Ok(Incoming::Control(_)) => {}
                Err(_) => rejected += 1,
            }
        }
        while let Some((t, mut d)) = ba.due(now) {
            if a.handle_datagram(at(t), &mut d).is_err() {
                rejected += 1;
            }
        }
        if let Some(r) = a.stats().peer_report {
            sender.on_peer_report(r.lost, r.received).expect("report");
        }
        // The caller's frame for this interval.
        if tick <= frames {
            talker(tick - 1, &mut pcm);
            let out = sender.encode(&pcm).expect("encode");
            payload_frame_bytes.insert(out.payload().frames.iter().map(|f| f.data.len()).sum());
            let n = a
                .send_media(at(now), &out.payload(), &mut buf)
                .expect("frames fit the packet");
            sizes.insert(n);
            ab.send(now, &buf[..n]);
        }
        // Timers and control packets, both ways.
        for (s, link, caller) in [(&mut a, &mut ab, true), (&mut b, &mut ba, false)] {
            if s.poll_timeout().is_some_and(|t| at(now) >= t) {
                s.handle_timeout(at(now));
            }
            while let Some(n) = s.poll_transmit(at(now), &mut buf) {
                if caller {
                    sizes.insert(n);
                }
                link.send(now, &buf[..n]);
            }
            while s.poll_event().is_some() {}
        }
        // The callee's device takes 20 ms per tick once audio has arrived,
        // until every frame sent has been played, rebuilt or concealed.
        if first_arrival.is_some() {
            receiver.play(now + Duration::from_millis(3), &mut played);
        }
        let st = receiver.stats();
        let consumed = st.played + st.recovered_redundant + st.recovered_fec + st.concealed;
        if consumed >= u64::from(frames) || tick > frames + 500 {
            break;
        }
    }
    Outcome {
        frames_sent: sender.frames(),
        sizes,
        packet_len,
        payload_frame_bytes,
        receiver: receiver.stats(),
        protection: sender.protection(),
        switches: sender.switches(),
        rejected,
    }
}

fn lossy(loss: f64, burst: f64) -> ImpairmentConfig {
    ImpairmentConfig {
        loss,
        burst,
        delay: Duration::from_millis(30),
        jitter: Duration::from_millis(10),
        ..ImpairmentConfig::default()
    }
}

fn assert_constant_size(o: &Outcome) {
    assert_eq!(
        o.sizes.iter().copied().collect::<Vec<_>>(),
        [o.packet_len],
        "every datagram, media or control, has the call's one size"
    );
    assert_eq!(o.rejected, 0, "nothing genuine is refused");
}

#[test]
fn a_clean_path_goes_clear_and_plays_every_frame_from_its_own_packet() {
    let o = call(lossy(0.0, 1.0), lossy(0.0, 1.0), 1, 15);
    assert_constant_size(&o);
    assert_eq!(o.frames_sent, 750);
    // One clean report is enough to spend the packet on one large frame.
    assert_eq!((o.protection, o.switches), (Protection::Clear, 1));
    // Redundant frames of 2 x 83 bytes, then single 169-byte frames (and
    // the call's first frame, alone).
    assert_eq!(
        o.payload_frame_bytes.iter().copied().collect::<Vec<_>>(),
        [83, 166, 169]
    );
    let r = o.receiver;
    assert_eq!(r.concealed + r.recovered_fec + r.recovered_redundant, 0);
    assert_eq!(r.played, 750);
}

#[test]
fn random_loss_is_repaired_by_the_redundant_copies() {
    let o = call(lossy(0.10, 1.0), lossy(0.0, 1.0), 7, 20);
    assert_constant_size(&o);
    // Every report shows loss: the call never leaves the redundant mode.
    assert_eq!((o.protection, o.switches), (Protection::Redundant, 0));
    let r = o.receiver;
    let frames = u64::from(o.frames_sent);
    assert_eq!(
        r.played + r.recovered_redundant + r.recovered_fec + r.concealed,
        frames
    );
    // ~10 % of the packets are lost; a copy in the next packet brings back
    // all but the frames whose next packet was lost too (~1 %).
    let missing = frames - r.played;
    assert!(missing > frames / 20, "{r:?}");
    assert!(r.recovered_redundant > missing * 3 / 4, "{r:?}");
    assert!(r.concealed < frames / 50, "{r:?}");
}

#[test]
fn burst_loss_beats_one_copy_and_is_concealed() {
    // Bursts of 4 on average: the next packet is usually lost too.
    let o = call(lossy(0.10, 4.0), lossy(0.05, 1.0), 11, 20);
    assert_constant_size(&o);
    assert_eq!(o.protection, Protection::Redundant);
    let r = o.receiver;
    let frames = u64::from(o.frames_sent);
    assert_eq!(
        r.played + r.recovered_redundant + r.recovered_fec + r.concealed,
        frames
    );
    assert!(r.recovered_redundant > 0, "{r:?}");
    assert!(
        r.concealed > frames / 50,
        "bursts must need concealment: {r:?}"
    );
    assert!(r.concealed < frames / 5, "{r:?}");
}

#[test]
fn the_same_seed_gives_the_same_call() {
    let one = call(lossy(0.15, 2.0), lossy(0.05, 1.0), 3, 8);
    let two = call(lossy(0.15, 2.0), lossy(0.05, 1.0), 3, 8);
    assert_eq!(one.receiver, two.receiver);
    assert_eq!(one.switches, two.switches);
}
