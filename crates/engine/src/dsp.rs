//! The capture-side voice processing: echo cancellation, noise suppression
//! and gain control, each switchable.
//!
//! WebRTC's audio processing module, in the pure-Rust `sonora` port, does all
//! three (AEC3, NS, AGC2 with limiter). `nnnoiseless` (RNNoise) is offered as
//! an alternative noise suppressor. Both work on 10 ms blocks at 48 kHz; the
//! engine hands over 20 ms frames, which are processed as two blocks.
//!
//! The echo canceller needs the far-end signal: every frame handed to the
//! speaker goes through [`Dsp::render`] before the microphone frame captured
//! at about the same time goes through [`Dsp::capture`]. AEC3 estimates the
//! remaining device delay itself.

use nnnoiseless::DenoiseState;
use sonora::config::{EchoCanceller, GainController2, HighPassFilter, NoiseSuppression};
use sonora::{AudioProcessing, Config, StreamConfig};

use crate::codec::SAMPLE_RATE;

/// Samples per 10 ms processing block.
const BLOCK: usize = SAMPLE_RATE as usize / 100;

/// Which noise suppressor runs, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoiseSuppressor {
    /// No noise suppression.
    Off,
    /// WebRTC NS (sonora), moderate level.
    #[default]
    Webrtc,
    /// RNNoise (nnnoiseless).
    Rnnoise,
}

/// Which processing stages are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DspConfig {
    /// Acoustic echo cancellation.
    pub aec: bool,
    /// Noise suppression.
    pub ns: NoiseSuppressor,
    /// Automatic gain control (AGC2, adaptive digital, with limiter).
    pub agc: bool,
}

impl Default for DspConfig {
    fn default() -> Self {
        Self {
            aec: true,
            ns: NoiseSuppressor::Webrtc,
            agc: true,
        }
    }
}

impl DspConfig {
    /// Everything off: the signal passes untouched (WAV-file calls use this
    /// so benchmarks measure the network path, not the processing).
    pub fn off() -> Self {
        Self {
            aec: false,
            ns: NoiseSuppressor::Off,
            agc: false,
        }
    }
}

/// The processing chain. Allocation happens only in [`Dsp::new`].
pub struct Dsp {
    cfg: DspConfig,
    apm: Option<AudioProcessing>,
    rnnoise: Option<Box<DenoiseState<'static>>>,
    block: Vec<f32>,
    scratch: Vec<f32>,
}

impl std::fmt::Debug for Dsp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dsp").field("cfg", &self.cfg).finish()
    }
}

impl Dsp {
    /// Builds the chain for `cfg`.
    pub fn new(cfg: DspConfig) -> Self {
        let use_apm = cfg.aec || cfg.agc || cfg.ns == NoiseSuppressor::Webrtc;
        let apm = use_apm.then(|| {
            let config = Config {
                high_pass_filter: Some(HighPassFilter::default()),
                echo_canceller: cfg.aec.then(EchoCanceller::default),
                noise_suppression: (cfg.ns == NoiseSuppressor::Webrtc)
                    .then(NoiseSuppression::default),
                gain_controller2: cfg.agc.then(GainController2::default),
                ..Default::default()
            };
            AudioProcessing::builder()
                .config(config)
                .capture_config(StreamConfig::new(SAMPLE_RATE, 1))
                .render_config(StreamConfig::new(SAMPLE_RATE, 1))
                .build()
        });
        let rnnoise = (cfg.ns == NoiseSuppressor::Rnnoise).then(DenoiseState::new);
        Self {
            cfg,
            apm,
            rnnoise,
            block: vec![0.0; BLOCK],
            scratch: vec![0.0; BLOCK],
        }
    }

    /// The stages in force.
    pub fn config(&self) -> DspConfig {
        self.cfg
    }

    /// Feeds a frame that is about to be played (the echo reference).
    pub fn render(&mut self, frame: &[f32]) {
        let Some(apm) = &mut self.apm else { return };
        if !self.cfg.aec {
            return;
        }
        for chunk in frame.chunks_exact(BLOCK) {
            self.block.copy_from_slice(chunk);
            // An error here only means the echo canceller misses one
            // reference block; it is not worth failing the call.
            let _ = apm.process_render_f32(&[chunk], &mut [&mut self.block]);
        }
    }

    /// Processes a captured frame in place (length a multiple of 10 ms).
    pub fn capture(&mut self, frame: &mut [f32]) {
        for chunk in frame.chunks_exact_mut(BLOCK) {
            if let Some(apm) = &mut self.apm {
                self.block.copy_from_slice(chunk);
                if apm
                    .process_capture_f32(&[&self.block], &mut [&mut *chunk])
                    .is_err()
                {
                    chunk.copy_from_slice(&self.block);
                }
            }
            if let Some(rnn) = &mut self.rnnoise {
                // RNNoise works on 16-bit-scaled floats.
                for (s, x) in self.scratch.iter_mut().zip(chunk.iter()) {
                    *s = x * 32768.0;
                }
                rnn.process_frame(&mut self.block, &self.scratch);
                for (x, s) in chunk.iter_mut().zip(self.block.iter()) {
                    *x = s / 32768.0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(seed: &mut u32, n: usize, amp: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (f32::from((*seed >> 16) as u16) / 32768.0 - 1.0) * amp
            })
            .collect()
    }

    fn energy(x: &[f32]) -> f32 {
        x.iter().map(|v| v * v).sum()
    }

    #[test]
    fn off_is_transparent() {
        let mut dsp = Dsp::new(DspConfig::off());
        let mut seed = 1;
        let original = noise(&mut seed, 960, 0.1);
        let mut frame = original.clone();
        dsp.render(&original);
        dsp.capture(&mut frame);
        assert_eq!(frame, original);
    }

    #[test]
    fn noise_suppressors_reduce_steady_noise() {
        for ns in [NoiseSuppressor::Webrtc, NoiseSuppressor::Rnnoise] {
            let mut dsp = Dsp::new(DspConfig {
                aec: false,
                ns,
                agc: false,
            });
            let mut seed = 7;
            let (mut before, mut after) = (0.0, 0.0);
            for f in 0..150 {
                let mut frame = noise(&mut seed, 960, 0.05);
                let e = energy(&frame);
                dsp.capture(&mut frame);
                // Let the estimators settle for a second.
                if f >= 50 {
                    before += e;
                    after += energy(&frame);
                }
            }
            assert!(after < before * 0.5, "{ns:?}: {after} vs {before}");
        }
    }

    #[test]
    fn echo_canceller_removes_a_delayed_copy_of_the_far_end() {
        let mut dsp = Dsp::new(DspConfig {
            aec: true,
            ns: NoiseSuppressor::Off,
            agc: false,
        });
        let mut seed = 3;
        let delay = 960; // 20 ms acoustic path
        let far: Vec<f32> = noise(&mut seed, 960 * 400, 0.2);
        let (mut mic_e, mut out_e) = (0.0, 0.0);
        for f in 0..400 {
            let frame = &far[f * 960..(f + 1) * 960];
            dsp.render(frame);
            let mut mic: Vec<f32> = (0..960)
                .map(|i| {
                    let n = f * 960 + i;
                    if n >= delay {
                        0.5 * far[n - delay]
                    } else {
                        0.0
                    }
                })
                .collect();
            let e = energy(&mic);
            dsp.capture(&mut mic);
            // AEC3 converges within a few seconds.
            if f >= 250 {
                mic_e += e;
                out_e += energy(&mic);
            }
        }
        assert!(out_e < mic_e * 0.1, "echo left: {out_e} of {mic_e}");
    }
}
