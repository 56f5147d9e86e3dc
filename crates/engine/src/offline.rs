//! The one-way media path without sockets or a real clock.
//!
//! [`simulate_one_way`] runs a whole recording through the pieces a call
//! uses — [`MediaSender`] (constant-bitrate Opus, redundant copies),
//! the seeded [`Impairment`] model, [`MediaReceiver`] (adaptive jitter
//! buffer, recovery, decoder) — on a virtual clock, so a minute of speech
//! under 20 % loss takes a second to score. The benchmarks use it to
//! compare encoder settings, and the socket-level benchmark checks that
//! real calls score the same.
//!
//! One difference from a call, on purpose: the sender is
//! [`MediaSender::fixed`], so one run scores one set-up (the settings
//! given, FEC sized for the configured loss) instead of following receiver
//! reports.

use std::time::Duration;

use proto::packet::MediaFrame;

use crate::codec::{CodecConfig, CodecError, FRAME_SAMPLES};
use crate::jitter::{JitterConfig, JitterStats};
use crate::media::{MediaError, MediaReceiver, MediaSender};
use crate::netsim::{Fate, Impairment, ImpairmentConfig};

pub use crate::media::IP_UDP_OVERHEAD;

/// Settings of one offline run.
#[derive(Debug, Clone)]
pub struct OfflineConfig {
    /// Encoder settings.
    pub codec: CodecConfig,
    /// Earlier frames repeated in each packet.
    pub redundancy: usize,
    /// Length of every sealed packet (the call's media profile).
    pub packet_len: usize,
    /// The network between the two ends.
    pub network: ImpairmentConfig,
    /// Seed of the network model.
    pub seed: u64,
    /// Sender clock speed relative to the receiver's (0.001 = 0.1 % fast).
    pub drift: f64,
}

/// What one run produced besides the audio.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct OfflineStats {
    /// Jitter buffer counters.
    pub jitter: JitterStats,
    /// Size of every datagram on the wire with IPv4 and UDP headers, bytes.
    pub wire_bytes: usize,
    /// Wire bitrate of the media stream, bit/s (IPv4 + UDP included).
    pub wire_bitrate: f64,
    /// Frames sent.
    pub frames: usize,
    /// Mean delay held by the jitter buffer, milliseconds.
    pub mean_buffer_ms: f64,
    /// Encoder CPU time per frame, microseconds (mean).
    pub encode_us: f64,
    /// Decoder-side CPU time per frame, microseconds (mean).
    pub decode_us: f64,
}

/// One packet on its way: delivery time, media timestamp, and the frames
/// it carries as (age, bytes), newest first.
struct InFlight {
    at: Duration,
    timestamp: u32,
    frames: Vec<(u8, Vec<u8>)>,
}

/// Runs `input` (48 kHz mono) through the media path; returns what the far
/// end played, one sample per sample of its own clock.
pub fn simulate_one_way(
    input: &[f32],
    cfg: &OfflineConfig,
) -> Result<(Vec<f32>, OfflineStats), CodecError> {
    let hint = (cfg.network.loss * 100.0).round() as u8;
    let mut sender = MediaSender::fixed(cfg.codec, cfg.packet_len, cfg.redundancy, hint).map_err(
        |e| match e {
            MediaError::Codec(e) => e,
            MediaError::Profile(why) => CodecError::Unsupported(why),
        },
    )?;
    let mut model = Impairment::new(cfg.network.clone(), cfg.seed);
    let mut receiver = MediaReceiver::new(JitterConfig::default())?;

    let frames = input.len().div_ceil(FRAME_SAMPLES);
    let mut in_flight: Vec<InFlight> = Vec::with_capacity(frames * 2);
    let mut frame = vec![0.0f32; FRAME_SAMPLES];
    let t_enc = std::time::Instant::now();
    for k in 0..frames {
        let start = k * FRAME_SAMPLES;
        let end = (start + FRAME_SAMPLES).min(input.len());
        frame.fill(0.0);
        frame[..end - start].copy_from_slice(&input[start..end]);
        let outgoing = sender.encode(&frame)?;
        let payload = outgoing.payload();
        let sent = Duration::from_secs_f64(k as f64 * 0.02 / (1.0 + cfg.drift));
        if let Fate::Deliver { at, duplicate_at } = model.decide(sent) {
            for t in std::iter::once(at).chain(duplicate_at) {
                in_flight.push(InFlight {
                    at: t,
                    timestamp: payload.timestamp,
                    frames: payload
                        .frames
                        .iter()
                        .map(|f| (f.age, f.data.to_vec()))
                        .collect(),
                });
            }
        }
    }
    let encode_us = t_enc.elapsed().as_secs_f64() * 1e6 / frames.max(1) as f64;
    in_flight.sort_by_key(|p| p.at);

    // The receiving device starts pulling when the first packet arrives (plus
    // an arbitrary phase) and keeps going a little past the end.
    let start = in_flight.first().map(|p| p.at).unwrap_or_default() + Duration::from_millis(7);
    let pops = frames + 25;
    let mut out = vec![0.0f32; pops * FRAME_SAMPLES];
    let mut next = 0;
    let mut buffered_ms = 0.0;
    let t_dec = std::time::Instant::now();
    for (m, chunk) in out.chunks_exact_mut(FRAME_SAMPLES).enumerate() {
        let now = start + Duration::from_millis(20) * m as u32;
        while let Some(p) = in_flight.get(next).filter(|p| p.at <= now) {
            let frames = p.frames.iter().map(|(age, data)| MediaFrame {
                age: *age,
                data: data.as_slice(),
            });
            receiver.on_media(p.at, p.timestamp, frames);
            next += 1;
        }
        receiver.play(now, chunk);
        buffered_ms += receiver.buffer().delay().as_secs_f64() * 1000.0;
    }
    let decode_us = t_dec.elapsed().as_secs_f64() * 1e6 / pops as f64;
    let stats = OfflineStats {
        jitter: receiver.stats(),
        wire_bytes: cfg.packet_len + IP_UDP_OVERHEAD,
        wire_bitrate: ((cfg.packet_len + IP_UDP_OVERHEAD) * 8 * 50) as f64,
        frames,
        mean_buffer_ms: buffered_ms / pops as f64,
        encode_us,
        decode_us,
    };
    Ok((out, stats))
}
