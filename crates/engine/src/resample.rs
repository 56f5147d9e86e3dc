//! Streaming sample-rate conversion to and from the engine's 48 kHz.
//!
//! Sound cards and WAV files come at whatever rate they like; the codec and
//! the echo canceller run at 48 kHz. [`StreamResampler`] wraps rubato's
//! FFT resampler (fixed chunk in, fixed chunk out, good quality at low CPU)
//! behind a push-any-length interface, and is a plain copy when both rates
//! are equal. All buffers are allocated up front.

use rubato::{FftFixedInOut, Resampler};

/// Errors creating a resampler.
#[derive(Debug, thiserror::Error)]
#[error("cannot resample {from} Hz to {to} Hz: {reason}")]
pub struct ResampleError {
    from: u32,
    to: u32,
    reason: String,
}

/// Mono streaming resampler.
pub struct StreamResampler {
    inner: Option<FftFixedInOut<f32>>,
    pending: Vec<f32>,
    chunk_out: Vec<f32>,
    from: u32,
    to: u32,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish()
    }
}

impl StreamResampler {
    /// A resampler from `from` Hz to `to` Hz for a mono stream.
    pub fn new(from: u32, to: u32) -> Result<Self, ResampleError> {
        if from == to {
            return Ok(Self {
                inner: None,
                pending: Vec::new(),
                chunk_out: Vec::new(),
                from,
                to,
            });
        }
        let err = |reason: String| ResampleError { from, to, reason };
        if from == 0 || to == 0 || from > 384_000 || to > 384_000 {
            return Err(err("rate out of range".into()));
        }
        // About 10 ms per chunk keeps the added delay small.
        let chunk = (from as usize / 100).max(16);
        let inner = FftFixedInOut::<f32>::new(from as usize, to as usize, chunk, 1)
            .map_err(|e| err(e.to_string()))?;
        let chunk_out = vec![0.0; inner.output_frames_max()];
        let pending = Vec::with_capacity(inner.input_frames_max() * 2);
        Ok(Self {
            inner: Some(inner),
            pending,
            chunk_out,
            from,
            to,
        })
    }

    /// Input and output rates.
    pub fn rates(&self) -> (u32, u32) {
        (self.from, self.to)
    }

    /// Feeds `input` and appends every output sample now available to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let Some(inner) = &mut self.inner else {
            out.extend_from_slice(input);
            return;
        };
        let mut input = input;
        loop {
            let need = inner.input_frames_next();
            let take = (need - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() < need {
                return;
            }
            // An error cannot happen with buffers sized from the resampler
            // itself; dropping one chunk is better than stopping the audio.
            if let Ok((_, produced)) = inner.process_into_buffer(
                &[&self.pending[..need]],
                &mut [&mut self.chunk_out],
                None,
            ) {
                out.extend_from_slice(&self.chunk_out[..produced]);
            }
            self.pending.clear();
        }
    }

    /// Samples of delay the resampler adds at its output rate.
    pub fn delay(&self) -> usize {
        self.inner.as_ref().map_or(0, |r| r.output_delay())
    }

    /// Resamples a whole signal, compensating the resampler's delay so the
    /// output lines up with the input.
    pub fn convert_all(from: u32, to: u32, input: &[f32]) -> Result<Vec<f32>, ResampleError> {
        let mut r = Self::new(from, to)?;
        let want = (input.len() as u64 * u64::from(to) / u64::from(from.max(1))) as usize;
        let mut out = Vec::with_capacity(want + 4096);
        r.process(input, &mut out);
        let delay = r.delay();
        let tail = vec![0.0; from as usize / 10 + 64];
        while out.len() < want + delay {
            r.process(&tail, &mut out);
        }
        Ok(out[delay..delay + want].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_survives_44k1_to_48k_and_back_in_time() {
        let n = 44_100;
        let input: Vec<f32> = (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 44_100.0).sin() * 0.5)
            .collect();
        let out = StreamResampler::convert_all(44_100, 48_000, &input).expect("resample");
        assert_eq!(out.len(), 48_000);
        // Compare with the ideal 48 kHz tone, away from the edges.
        let err: f32 = (1000..47_000)
            .map(|i| {
                let ideal = (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 48_000.0).sin() * 0.5;
                (out[i] - ideal).powi(2)
            })
            .sum::<f32>()
            / 46_000.0;
        // Within about half a sample of the ideal timing: the FFT
        // resampler's delay is fractional, its reported delay whole.
        assert!(err < 1.5e-3, "mse {err}");
        let same = StreamResampler::convert_all(48_000, 48_000, &out).expect("copy");
        assert_eq!(same, out);
        assert!(StreamResampler::new(0, 48_000).is_err());
    }
}
