//! The jitter buffer and the real Opus decoder over a seeded simulated
//! network with a virtual clock: loss, burst loss, reordering, duplication,
//! jitter and drift between the sender's and the receiver's clocks.

use std::time::Duration;

use engine::codec::{CodecConfig, FRAME_SAMPLES, SAMPLE_RATE, VoiceEncoder};
use engine::jitter::{JitterConfig, JitterStats};
use engine::netsim::{Fate, Impairment, ImpairmentConfig};
use engine::playout::{Playout, rms};

/// A talker: harmonic voice-like bursts separated by pauses.
fn talker(frame: usize) -> Vec<f32> {
    (0..FRAME_SAMPLES)
        .map(|i| {
            let n = frame * FRAME_SAMPLES + i;
            let t = n as f32 / SAMPLE_RATE as f32;
            let syllable = (t * 3.0).fract();
            let talking = (t % 4.0) < 3.0;
            let env = if talking {
                (syllable * std::f32::consts::PI).sin()
            } else {
                0.0
            };
            let f0 = 140.0 + 20.0 * (t * 0.7).sin();
            let voice: f32 = (1..6)
                .map(|h| (2.0 * std::f32::consts::PI * f0 * h as f32 * t).sin() / h as f32)
                .sum();
            0.2 * env * voice
        })
        .collect()
}

struct Outcome {
    stats: JitterStats,
    /// Mean frames in hand at pop time.
    mean_delay_frames: f64,
    max_delay_frames: u32,
    frames_out: usize,
    loud_frames_out: usize,
    frames_in: usize,
}

/// Runs `seconds` of one-way audio; `drift` is how much faster the sender's
/// clock runs than the receiver's (0.001 = 0.1 %).
fn simulate(net: ImpairmentConfig, seed: u64, seconds: u32, drift: f64) -> Outcome {
    let codec = CodecConfig::default();
    let mut enc = VoiceEncoder::new(codec).expect("encoder");
    enc.set_loss_hint((net.loss * 100.0) as u8).expect("hint");
    let mut history: Vec<Vec<u8>> = Vec::new();
    let mut model = Impairment::new(net, seed);
    let mut playout = Playout::new(JitterConfig::default()).expect("playout");

    let frames = (seconds * 50) as usize;
    // (delivery time, index, frames newest first)
    let mut in_flight: Vec<(Duration, u32, Vec<Vec<u8>>)> = Vec::new();
    let mut enc_buf = vec![0u8; 512];
    for k in 0..frames {
        let sent = Duration::from_secs_f64(k as f64 * 0.02 / (1.0 + drift));
        let n = enc.encode(&talker(k), &mut enc_buf).expect("encode");
        // One redundant copy of the previous frame, as in a call.
        history.insert(0, enc_buf[..n].to_vec());
        history.truncate(2);
        if let Fate::Deliver { at, duplicate_at } = model.decide(sent) {
            for t in std::iter::once(at).chain(duplicate_at) {
                in_flight.push((t, k as u32, history.clone()));
            }
        }
    }
    in_flight.sort_by_key(|(t, _, _)| *t);

    // The receiver's device pulls a frame every 20 ms of its own clock,
    // starting when the first packet arrives plus a few ms of phase.
    let start =
        in_flight.first().map(|(t, _, _)| *t).unwrap_or_default() + Duration::from_millis(3);
    let mut next_arrival = 0;
    let mut out = vec![0.0f32; FRAME_SAMPLES];
    let (mut sum_delay, mut max_delay, mut pops, mut loud) = (0u64, 0u32, 0usize, 0usize);
    // Pop until every sent frame has been played, recovered or concealed,
    // so that the tail after the last packet is not counted as loss.
    let mut m = 0u32;
    loop {
        let st = playout.stats();
        let consumed = st.played + st.recovered_redundant + st.recovered_fec + st.concealed;
        if consumed >= frames as u64 || m as usize > frames + 500 {
            break;
        }
        let now = start + Duration::from_millis(20) * m;
        m += 1;
        while next_arrival < in_flight.len() && in_flight[next_arrival].0 <= now {
            let (t, index, ref frames) = in_flight[next_arrival];
            let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
            playout.push(t, index, &refs);
            next_arrival += 1;
        }
        playout.next_frame(now, &mut out);
        let d = (playout.buffer().delay().as_millis() / 20) as u32;
        sum_delay += u64::from(d);
        max_delay = max_delay.max(d);
        pops += 1;
        if rms(&out) > 0.02 {
            loud += 1;
        }
    }
    Outcome {
        stats: playout.stats(),
        mean_delay_frames: sum_delay as f64 / pops as f64,
        max_delay_frames: max_delay,
        frames_out: pops,
        loud_frames_out: loud,
        frames_in: frames,
    }
}

fn lost_frames(s: &JitterStats) -> u64 {
    s.concealed
}

#[test]
fn clean_network_plays_everything_at_minimum_delay() {
    let o = simulate(ImpairmentConfig::default(), 1, 20, 0.0);
    assert_eq!(o.stats.played as usize, o.frames_in);
    assert_eq!(lost_frames(&o.stats), 0);
    assert_eq!(o.stats.late, 0);
    assert!(o.mean_delay_frames <= 1.1, "{}", o.mean_delay_frames);
    // The talker speaks three seconds out of four.
    let share = o.loud_frames_out as f64 / o.frames_out as f64;
    assert!(share > 0.5, "loud share {share}");
}

#[test]
fn random_loss_is_repaired_by_redundancy() {
    for seed in [1, 2, 3] {
        let o = simulate(
            ImpairmentConfig {
                loss: 0.2,
                ..Default::default()
            },
            seed,
            30,
            0.0,
        );
        let s = o.stats;
        assert!(s.recovered_redundant > 50, "{s:?}");
        // With one redundant copy and FEC behind it, only runs of three
        // losses (0.8 % at 20 % loss) end up concealed.
        let concealed = lost_frames(&s) as f64 / o.frames_in as f64;
        assert!(concealed < 0.02, "seed {seed}: concealed {concealed} {s:?}");
        // Under loss the buffer keeps one extra frame so the next packet's
        // copy is in hand; short bursts of waiting may briefly add more.
        assert!(
            o.mean_delay_frames < 4.5,
            "mean delay {}",
            o.mean_delay_frames
        );
        assert!(o.max_delay_frames <= 6, "delay {}", o.max_delay_frames);
    }
}

#[test]
fn burst_loss_uses_fec_and_concealment() {
    let o = simulate(
        ImpairmentConfig {
            loss: 0.1,
            burst: 3.0,
            ..Default::default()
        },
        7,
        30,
        0.0,
    );
    let s = o.stats;
    assert!(s.recovered_redundant > 0 && s.concealed > 0, "{s:?}");
    let accounted = s.played + s.recovered_redundant + s.recovered_fec + s.concealed;
    // Every frame is accounted for once, less the ones dropped to cut delay.
    assert!(accounted + s.shrunk >= o.frames_in as u64 - 5, "{s:?}");
}

#[test]
fn reordering_costs_no_audio() {
    let o = simulate(
        ImpairmentConfig {
            reorder: 0.05,
            reorder_gap: Duration::from_millis(30),
            ..Default::default()
        },
        4,
        30,
        0.0,
    );
    let s = o.stats;
    // A reordered packet arrives after its successor; the buffer waits or the
    // successor's copy repairs it, so nothing is concealed.
    assert!(s.concealed <= 3, "{s:?}");
    // Each held-back packet is late, and its frame was already played from
    // the copy in the packet that overtook it.
    assert!(s.late > 0 && s.recovered_redundant >= s.late, "{s:?}");
}

#[test]
fn duplicates_are_counted_and_played_once() {
    let o = simulate(
        ImpairmentConfig {
            duplicate: 0.1,
            ..Default::default()
        },
        5,
        20,
        0.0,
    );
    let s = o.stats;
    assert!(s.duplicates > 50, "{s:?}");
    assert_eq!(s.played as usize, o.frames_in, "{s:?}");
}

#[test]
fn jitter_is_absorbed_with_little_late_loss() {
    let o = simulate(
        ImpairmentConfig {
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            ..Default::default()
        },
        6,
        60,
        0.0,
    );
    let s = o.stats;
    assert!(s.concealed * 100 < o.frames_in as u64, "{s:?}");
    assert!(s.late * 100 < o.frames_in as u64, "{s:?}");
    // ±10 ms needs about one extra frame, not more than three.
    assert!(o.mean_delay_frames < 3.0, "{}", o.mean_delay_frames);
}

#[test]
fn a_faster_sender_clock_is_absorbed_by_shrinking() {
    // 0.5 % is far worse than real sound cards (typically < 0.01 %).
    let o = simulate(ImpairmentConfig::default(), 8, 60, 0.005);
    let s = o.stats;
    assert!(s.shrunk >= 5, "{s:?}");
    assert!(
        o.max_delay_frames <= 4,
        "delay grew to {}",
        o.max_delay_frames
    );
    assert_eq!(s.concealed, 0, "{s:?}");
}

#[test]
fn a_slower_sender_clock_is_absorbed_by_expanding() {
    let o = simulate(ImpairmentConfig::default(), 9, 60, -0.005);
    let s = o.stats;
    assert!(s.expanded >= 5, "{s:?}");
    assert!(
        o.max_delay_frames <= 4,
        "delay grew to {}",
        o.max_delay_frames
    );
    // Waiting is enough: no frame is given up.
    assert!(s.concealed <= 2, "{s:?}");
}
