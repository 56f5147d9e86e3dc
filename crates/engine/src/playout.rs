//! The receive half of the audio path: jitter buffer + Opus decoder.
//!
//! [`Playout`] turns what the [`JitterBuffer`] decides into 20 ms of audio.
//! It also carries out the buffer's wish to shrink: it drops the frame it
//! just decoded if that frame is quiet, so removing delay rarely cuts speech,
//! and drops a loud one only when the buffer has waited too long.

use std::time::Duration;

use crate::codec::{CodecError, FRAME_SAMPLES, VoiceDecoder};
use crate::jitter::{Decision, JitterBuffer, JitterConfig, JitterStats};

/// RMS below which a frame counts as quiet enough to drop (about −46 dBFS).
const QUIET_RMS: f32 = 0.005;

/// Jitter buffer and decoder, driven once per frame by the playback clock.
#[derive(Debug)]
pub struct Playout {
    jb: JitterBuffer,
    dec: VoiceDecoder,
}

impl Playout {
    /// A new playout path.
    pub fn new(cfg: JitterConfig) -> Result<Self, CodecError> {
        Ok(Self {
            jb: JitterBuffer::new(cfg),
            dec: VoiceDecoder::new()?,
        })
    }

    /// Hands the frames of one received packet to the jitter buffer:
    /// `frames[age]` is frame `index - age`.
    pub fn push(&mut self, now: Duration, index: u32, frames: &[&[u8]]) {
        self.jb.push(now, index, frames);
    }

    /// Produces the next [`FRAME_SAMPLES`] samples of playback into `out`.
    pub fn next_frame(&mut self, now: Duration, out: &mut [f32]) {
        // At most one extra frame per call is dropped.
        for attempt in 0..2 {
            let decoded = match self.jb.pop(now) {
                Decision::Silence => {
                    out[..FRAME_SAMPLES].fill(0.0);
                    false
                }
                Decision::Decode(bytes) => {
                    self.dec.decode(bytes, out);
                    true
                }
                Decision::DecodeFec(bytes) => {
                    self.dec.decode_fec(bytes, out);
                    true
                }
                Decision::Conceal => {
                    self.dec.conceal(out);
                    false
                }
            };
            let droppable = decoded
                && attempt == 0
                && self.jb.wants_shrink()
                && (self.jb.must_shrink() || rms(&out[..FRAME_SAMPLES]) < QUIET_RMS);
            if !droppable {
                return;
            }
            self.jb.shrink();
        }
    }

    /// The jitter buffer's counters.
    pub fn stats(&self) -> JitterStats {
        self.jb.stats()
    }

    /// The jitter buffer itself, for delay and jitter readings.
    pub fn buffer(&self) -> &JitterBuffer {
        &self.jb
    }
}

/// Root mean square of a block of samples.
pub fn rms(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
}
