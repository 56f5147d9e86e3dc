//! WAV files in and out, clocked in real time.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ringbuf::traits::{Consumer, Producer};

use super::{AudioBackend, AudioCounters, AudioError, AudioIo, ring};
use crate::codec::SAMPLE_RATE;
use crate::resample::StreamResampler;

/// WAV file input and/or output, clocked in real time.
#[derive(Debug, Clone, Default)]
pub struct WavAudio {
    /// File to capture from (any rate, mixed to mono); silence if `None`.
    pub input: Option<PathBuf>,
    /// File to write playback to (48 kHz mono 16-bit); discarded if `None`.
    pub output: Option<PathBuf>,
}

/// Period of the WAV clock.
const WAV_TICK: Duration = Duration::from_millis(10);

/// Reads a WAV file as mono f32 at 48 kHz.
pub fn read_wav_mono_48k(path: &std::path::Path) -> Result<Vec<f32>, AudioError> {
    let err = |reason: String| AudioError::Wav {
        path: path.to_owned(),
        reason,
    };
    let mut reader = hound::WavReader::open(path).map_err(|e| err(e.to_string()))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| err(e.to_string()))?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| err(e.to_string()))?
        }
    };
    let mono: Vec<f32> = interleaved
        .chunks(channels)
        .map(|c| c.iter().sum::<f32>() / c.len() as f32)
        .collect();
    StreamResampler::convert_all(spec.sample_rate, SAMPLE_RATE, &mono)
        .map_err(|e| err(e.to_string()))
}

impl AudioBackend for WavAudio {
    fn open(&self) -> Result<AudioIo, AudioError> {
        let input = match &self.input {
            Some(p) => Some(read_wav_mono_48k(p)?),
            None => None,
        };
        let writer = match &self.output {
            Some(path) => {
                let spec = hound::WavSpec {
                    channels: 1,
                    sample_rate: SAMPLE_RATE,
                    bits_per_sample: 16,
                    sample_format: hound::SampleFormat::Int,
                };
                Some(
                    hound::WavWriter::create(path, spec).map_err(|e| AudioError::Wav {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?,
                )
            }
            None => None,
        };
        let (mut cap_tx, cap_rx) = ring(SAMPLE_RATE);
        let (play_tx, mut play_rx) = ring(SAMPLE_RATE);
        let counters = Arc::new(AudioCounters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (counters.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("pqvoice-wav-clock".into())
            .spawn(move || {
                let mut writer = writer;
                let block = (SAMPLE_RATE / 100) as usize;
                let mut out = vec![0.0f32; block];
                let silence = vec![0.0f32; block];
                let start = Instant::now();
                let mut tick: u32 = 0;
                let mut pos = 0usize;
                while !s.load(Ordering::Relaxed) {
                    let due = start + WAV_TICK * tick;
                    let now = Instant::now();
                    if now < due {
                        std::thread::park_timeout(due - now);
                        continue;
                    }
                    tick += 1;
                    // Capture: the next 10 ms of the file, then silence.
                    let chunk = match &input {
                        Some(samples) if pos < samples.len() => {
                            let end = (pos + block).min(samples.len());
                            let chunk = &samples[pos..end];
                            pos = end;
                            if pos >= samples.len() {
                                c.input_finished.store(true, Ordering::Relaxed);
                            }
                            chunk
                        }
                        _ => {
                            if input.is_some() {
                                c.input_finished.store(true, Ordering::Relaxed);
                            }
                            &silence[..]
                        }
                    };
                    let pushed = cap_tx.push_slice(chunk);
                    if pushed < chunk.len() {
                        c.overruns
                            .fetch_add((chunk.len() - pushed) as u64, Ordering::Relaxed);
                    }
                    // Playback: whatever the engine queued, silence for the rest.
                    let got = play_rx.pop_slice(&mut out);
                    c.output_chunk_max
                        .fetch_max(block as u64, Ordering::Relaxed);
                    if got < block {
                        out[got..].fill(0.0);
                        c.underruns
                            .fetch_add((block - got) as u64, Ordering::Relaxed);
                    }
                    c.wake.wake();
                    if let Some(w) = &mut writer {
                        for &x in &out {
                            let v = (x.clamp(-1.0, 1.0) * 32767.0).round() as i16;
                            if w.write_sample(v).is_err() {
                                c.errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                if let Some(w) = writer
                    && w.finalize().is_err()
                {
                    c.errors.fetch_add(1, Ordering::Relaxed);
                }
            })
            .map_err(|e| AudioError::Device {
                device: "wav clock".into(),
                reason: e.to_string(),
            })?;
        Ok(AudioIo {
            capture: cap_rx,
            playback: play_tx,
            capture_rate: SAMPLE_RATE,
            playback_rate: SAMPLE_RATE,
            counters,
            stop,
            thread: Some(thread),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_clock_aligns_output_with_input_and_counts_underruns() {
        let dir = tempfile::tempdir().expect("tmp");
        let input = dir.path().join("in.wav");
        let output = dir.path().join("out.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&input, spec).expect("create");
        for i in 0..3200 {
            // 0.2 s of a 500 Hz tone.
            let v = (2.0 * std::f32::consts::PI * 500.0 * i as f32 / 16_000.0).sin() * 16000.0;
            w.write_sample(v as i16).expect("write");
        }
        w.finalize().expect("finalize");
        let mut io = WavAudio {
            input: Some(input),
            output: Some(output.clone()),
        }
        .open()
        .expect("open");
        // Loop capture straight back to playback, like a zero-delay echo.
        let t0 = Instant::now();
        let mut buf = [0.0f32; 480];
        while t0.elapsed() < Duration::from_millis(400) {
            let n = io.capture.pop_slice(&mut buf);
            io.playback.push_slice(&buf[..n]);
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(io.counters.input_finished.load(Ordering::Relaxed));
        assert!(io.counters.underruns.load(Ordering::Relaxed) > 0);
        io.close();
        let out = read_wav_mono_48k(&output).expect("read back");
        assert!(out.len() >= 48_000 * 35 / 100, "{}", out.len());
        // The looped tone comes back within a couple of ticks.
        let first = out
            .iter()
            .position(|x| x.abs() > 0.1)
            .expect("tone returned");
        assert!(first < 48_000 * 30 / 1000, "first loud sample at {first}");
    }

    #[test]
    fn missing_wav_is_a_clear_error() {
        let err = WavAudio {
            input: Some("/nonexistent/x.wav".into()),
            output: None,
        }
        .open()
        .expect_err("must fail");
        assert!(err.to_string().contains("/nonexistent/x.wav"), "{err}");
    }
}
