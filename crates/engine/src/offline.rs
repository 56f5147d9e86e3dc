//! The one-way media path without sockets or a real clock.
//!
//! [`simulate_one_way`] runs a whole recording through exactly the code a
//! call uses — constant-bitrate Opus encoder, redundant payloads, the seeded
//! [`Impairment`] model, the adaptive jitter buffer and the decoder — on a
//! virtual clock, so a minute of speech under 20 % loss takes a second to
//! score. The benchmarks use it to compare encoder settings, and the
//! socket-level benchmark checks that real calls score the same.

use std::time::Duration;

use crate::codec::{CodecConfig, CodecError, FRAME_SAMPLES, VoiceEncoder};
use crate::jitter::{JitterConfig, JitterStats};
use crate::netsim::{Fate, Impairment, ImpairmentConfig};
use crate::playout::Playout;

/// Bytes of IPv4 and UDP headers in front of every datagram.
pub const IP_UDP_OVERHEAD: usize = 28;

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

/// Runs `input` (48 kHz mono) through the media path; returns what the far
/// end played, one sample per sample of its own clock.
pub fn simulate_one_way(
    input: &[f32],
    cfg: &OfflineConfig,
) -> Result<(Vec<f32>, OfflineStats), CodecError> {
    let mut enc = VoiceEncoder::new(cfg.codec)?;
    enc.set_loss_hint((cfg.network.loss * 100.0).round() as u8)?;
    let frames_per_packet = cfg.redundancy + 1;
    if frames_per_packet > proto::packet::MAX_FRAMES_PER_PACKET
        || cfg.codec.frame_bytes() * frames_per_packet
            > proto::packet::frame_capacity(cfg.packet_len, frames_per_packet)
    {
        return Err(CodecError::Unsupported(
            "frames do not fit the packet length",
        ));
    }
    let mut model = Impairment::new(cfg.network.clone(), cfg.seed);
    let mut playout = Playout::new(JitterConfig::default())?;

    let frames = input.len().div_ceil(FRAME_SAMPLES);
    // (delivery time, frame index, frames newest first)
    let mut in_flight: Vec<(Duration, u32, Vec<Vec<u8>>)> = Vec::with_capacity(frames * 2);
    let mut history: Vec<Vec<u8>> = Vec::new();
    let mut encoded = vec![0u8; cfg.codec.frame_bytes()];
    let mut frame = vec![0.0f32; FRAME_SAMPLES];
    let t_enc = std::time::Instant::now();
    for k in 0..frames {
        let start = k * FRAME_SAMPLES;
        let end = (start + FRAME_SAMPLES).min(input.len());
        frame.fill(0.0);
        frame[..end - start].copy_from_slice(&input[start..end]);
        let n = enc.encode(&frame, &mut encoded)?;
        // The same frames, newest first, that the call puts in a packet.
        history.insert(0, encoded[..n].to_vec());
        history.truncate(frames_per_packet);
        let sent = Duration::from_secs_f64(k as f64 * 0.02 / (1.0 + cfg.drift));
        if let Fate::Deliver { at, duplicate_at } = model.decide(sent) {
            for t in std::iter::once(at).chain(duplicate_at) {
                in_flight.push((t, k as u32, history.clone()));
            }
        }
    }
    let encode_us = t_enc.elapsed().as_secs_f64() * 1e6 / frames.max(1) as f64;
    in_flight.sort_by_key(|(t, _, _)| *t);

    // The receiving device starts pulling when the first packet arrives (plus
    // an arbitrary phase) and keeps going a little past the end.
    let start =
        in_flight.first().map(|(t, _, _)| *t).unwrap_or_default() + Duration::from_millis(7);
    let pops = frames + 25;
    let mut out = vec![0.0f32; pops * FRAME_SAMPLES];
    let mut next = 0;
    let mut buffered_ms = 0.0;
    let t_dec = std::time::Instant::now();
    for (m, chunk) in out.chunks_exact_mut(FRAME_SAMPLES).enumerate() {
        let now = start + Duration::from_millis(20) * m as u32;
        while next < in_flight.len() && in_flight[next].0 <= now {
            let (t, index, ref frames) = in_flight[next];
            let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
            playout.push(t, index, &refs);
            next += 1;
        }
        playout.next_frame(now, chunk);
        buffered_ms += playout.buffer().delay().as_secs_f64() * 1000.0;
    }
    let decode_us = t_dec.elapsed().as_secs_f64() * 1e6 / pops as f64;
    let stats = OfflineStats {
        jitter: playout.stats(),
        wire_bytes: cfg.packet_len + IP_UDP_OVERHEAD,
        wire_bitrate: ((cfg.packet_len + IP_UDP_OVERHEAD) * 8 * 50) as f64,
        frames,
        mean_buffer_ms: buffered_ms / pops as f64,
        encode_us,
        decode_us,
    };
    Ok((out, stats))
}
