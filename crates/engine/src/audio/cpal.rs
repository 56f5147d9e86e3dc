//! Real sound devices through cpal.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ringbuf::traits::{Consumer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};

use super::{AudioBackend, AudioCounters, AudioError, AudioIo, ring};
use crate::codec::SAMPLE_RATE;

/// Real sound devices through cpal.
#[derive(Debug, Clone, Default)]
pub struct CpalAudio {
    /// Capture device name; the default input if `None`.
    pub input_device: Option<String>,
    /// Playback device name; the default output if `None`.
    pub output_device: Option<String>,
}

/// Names of the input and output devices of the default host.
pub fn list_devices() -> (Vec<String>, Vec<String>) {
    use cpal::traits::{DeviceTrait, HostTrait};
    let host = cpal::default_host();
    let ins = host
        .input_devices()
        .map(|d| d.filter_map(|d| d.name().ok()).collect())
        .unwrap_or_default();
    let outs = host
        .output_devices()
        .map(|d| d.filter_map(|d| d.name().ok()).collect())
        .unwrap_or_default();
    (ins, outs)
}

/// The system's default input and output device names, if it has them.
///
/// With [`list_devices`] this is all a settings screen needs to show the
/// choice, so front ends never talk to cpal themselves.
pub fn default_devices() -> (Option<String>, Option<String>) {
    use cpal::traits::{DeviceTrait, HostTrait};
    let host = cpal::default_host();
    let input = host.default_input_device().and_then(|d| d.name().ok());
    let output = host.default_output_device().and_then(|d| d.name().ok());
    (input, output)
}

type Opened = (HeapCons<f32>, HeapProd<f32>, u32, u32);

impl AudioBackend for CpalAudio {
    fn open(&self) -> Result<AudioIo, AudioError> {
        let counters = Arc::new(AudioCounters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<Opened, AudioError>>();
        let (c, s) = (counters.clone(), stop.clone());
        let (input_name, output_name) = (self.input_device.clone(), self.output_device.clone());
        let thread = std::thread::Builder::new()
            .name("pqvoice-audio-devices".into())
            .spawn(move || {
                // The streams live exactly as long as this thread.
                match cpal_streams(input_name.as_deref(), output_name.as_deref(), &c) {
                    Ok((streams, opened)) => {
                        let _ = ready_tx.send(Ok(opened));
                        while !s.load(Ordering::Relaxed) {
                            std::thread::park_timeout(Duration::from_millis(200));
                        }
                        drop(streams);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| AudioError::Device {
                device: "audio thread".into(),
                reason: e.to_string(),
            })?;
        let opened = ready_rx.recv().map_err(|_| AudioError::Device {
            device: "audio thread".into(),
            reason: "device thread died while opening".into(),
        })?;
        let mut io_guard = AudioIo {
            capture: HeapRb::<f32>::new(1).split().1,
            playback: HeapRb::<f32>::new(1).split().0,
            capture_rate: SAMPLE_RATE,
            playback_rate: SAMPLE_RATE,
            counters,
            stop,
            thread: Some(thread),
        };
        let (cap, play, cap_rate, play_rate) = opened?;
        io_guard.capture = cap;
        io_guard.playback = play;
        io_guard.capture_rate = cap_rate;
        io_guard.playback_rate = play_rate;
        Ok(io_guard)
    }
}

fn find_device<I: Iterator<Item = cpal::Device>>(
    devices: Result<I, cpal::DevicesError>,
    name: &str,
) -> Option<cpal::Device> {
    use cpal::traits::DeviceTrait;
    devices.ok()?.find(|d| d.name().is_ok_and(|n| n == name))
}

fn stream_error_handler(
    counters: Arc<AudioCounters>,
) -> impl FnMut(cpal::StreamError) + Send + 'static {
    move |e| match e {
        cpal::StreamError::DeviceNotAvailable => {
            counters.device_lost.store(true, Ordering::Relaxed);
        }
        _ => {
            counters.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The playback device's buffer. cpal keeps it full, so what it holds is
/// delay in front of the speaker; cpal's own default asked for 100 ms, of
/// which 75–100 ms stayed queued. A smaller buffer means smaller periods
/// (a quarter of it): at 40 ms, PipeWire ran its whole graph in 10 ms
/// steps and a talking call in the app took about a point more CPU than at
/// 60 ms, where it keeps its ~21 ms steps (bench/RESULTS.md, desktop app).
pub const OUTPUT_BUFFER: Duration = Duration::from_millis(60);

/// The capture device's buffer. Captured audio is handed over a period (a
/// quarter of this) at a time, which is all the delay it adds: 20 ms, one
/// frame.
pub const INPUT_BUFFER: Duration = Duration::from_millis(80);

/// The device buffer to ask for: [`OUTPUT_BUFFER`] / [`INPUT_BUFFER`], or
/// `PQVOICE_AUDIO_BUFFER_MS` / `PQVOICE_AUDIO_IN_BUFFER_MS` (10–500; 0
/// leaves it to the device).
fn device_buffer(input: bool) -> Option<Duration> {
    let (var, default) = if input {
        ("PQVOICE_AUDIO_IN_BUFFER_MS", INPUT_BUFFER)
    } else {
        ("PQVOICE_AUDIO_BUFFER_MS", OUTPUT_BUFFER)
    };
    let ms = std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    match ms {
        Some(0) => None,
        Some(ms) => Some(Duration::from_millis(ms.clamp(10, 500))),
        None => Some(default),
    }
}

/// Why a stream could not be built.
#[derive(Debug, thiserror::Error)]
enum BuildError {
    #[error("unsupported sample format {0}")]
    Format(cpal::SampleFormat),
    #[error(transparent)]
    Build(#[from] cpal::BuildStreamError),
}

/// The configuration to open a device with, and its sample format.
fn device_config(
    dev: &cpal::Device,
    input: bool,
) -> Result<(cpal::StreamConfig, cpal::SampleFormat), String> {
    use cpal::traits::DeviceTrait;
    let default = if input {
        dev.default_input_config()
    } else {
        dev.default_output_config()
    }
    .map_err(|e| e.to_string())?;
    let ranges: Vec<_> = if input {
        dev.supported_input_configs().map(|r| r.collect())
    } else {
        dev.supported_output_configs().map(|r| r.collect())
    }
    .unwrap_or_default();
    Ok(choose_config(&default, &ranges, device_buffer(input)))
}

/// Picks a stream configuration from what a device offers. cpal's default
/// prefers 44.1 kHz, which would make the engine resample every frame both
/// ways (and the sound server resample again); so the engine's own
/// 48 kHz is taken whenever a configuration with the default's channels and
/// sample format allows it. The buffer is `buffer` long when the device's
/// range allows that size, else left to the device.
fn choose_config(
    default: &cpal::SupportedStreamConfig,
    ranges: &[cpal::SupportedStreamConfigRange],
    buffer: Option<Duration>,
) -> (cpal::StreamConfig, cpal::SampleFormat) {
    let format = default.sample_format();
    let mut cfg = default.config();
    let native = cpal::SampleRate(SAMPLE_RATE);
    let fits = |r: &&cpal::SupportedStreamConfigRange| {
        r.channels() == cfg.channels
            && r.sample_format() == format
            && r.min_sample_rate() <= native
            && native <= r.max_sample_rate()
    };
    let range = ranges.iter().find(fits);
    if range.is_some() {
        cfg.sample_rate = native;
    }
    if let Some(buffer) = buffer {
        let frames = (buffer.as_secs_f64() * f64::from(cfg.sample_rate.0)).round() as u32;
        let sizes = range
            .map(|r| r.buffer_size())
            .unwrap_or(default.buffer_size());
        let allowed = match sizes {
            cpal::SupportedBufferSize::Range { min, max } => (*min..=*max).contains(&frames),
            cpal::SupportedBufferSize::Unknown => true,
        };
        if allowed && frames > 0 {
            cfg.buffer_size = cpal::BufferSize::Fixed(frames);
        }
    }
    (cfg, format)
}

/// Builds a stream with `cfg`; if a fixed buffer size is refused, once more
/// with the device's default buffer.
fn with_buffer_fallback<S>(
    cfg: &cpal::StreamConfig,
    mut build: impl FnMut(&cpal::StreamConfig) -> Result<S, BuildError>,
) -> Result<S, BuildError> {
    match build(cfg) {
        Err(BuildError::Build(_)) if cfg.buffer_size != cpal::BufferSize::Default => {
            let mut fallback = cfg.clone();
            fallback.buffer_size = cpal::BufferSize::Default;
            build(&fallback)
        }
        other => other,
    }
}

fn cpal_streams(
    input: Option<&str>,
    output: Option<&str>,
    counters: &Arc<AudioCounters>,
) -> Result<((cpal::Stream, cpal::Stream), Opened), AudioError> {
    use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
    let host = cpal::default_host();
    let in_dev = match input {
        Some(n) => find_device(host.input_devices(), n),
        None => host.default_input_device(),
    }
    .ok_or_else(|| AudioError::NoDevice(input.unwrap_or("(default input)").into()))?;
    let out_dev = match output {
        Some(n) => find_device(host.output_devices(), n),
        None => host.default_output_device(),
    }
    .ok_or_else(|| AudioError::NoDevice(output.unwrap_or("(default output)").into()))?;
    let dev_err = |dev: &cpal::Device, reason: String| AudioError::Device {
        device: dev.name().unwrap_or_else(|_| "?".into()),
        reason,
    };

    let (in_cfg, in_format) = device_config(&in_dev, true).map_err(|e| dev_err(&in_dev, e))?;
    let (out_cfg, out_format) = device_config(&out_dev, false).map_err(|e| dev_err(&out_dev, e))?;
    let cap_rate = in_cfg.sample_rate.0;
    let play_rate = out_cfg.sample_rate.0;
    // Playback starts from an empty ring and plays silence until the engine
    // has decoded something: counted underruns until then are expected.
    let (in_stream, cap_rx) = with_buffer_fallback(&in_cfg, |cfg| match in_format {
        cpal::SampleFormat::F32 => build_input::<f32>(&in_dev, cfg, counters),
        cpal::SampleFormat::I16 => build_input::<i16>(&in_dev, cfg, counters),
        cpal::SampleFormat::U16 => build_input::<u16>(&in_dev, cfg, counters),
        f => Err(BuildError::Format(f)),
    })
    .map_err(|e| dev_err(&in_dev, e.to_string()))?;
    let (out_stream, play_tx) = with_buffer_fallback(&out_cfg, |cfg| match out_format {
        cpal::SampleFormat::F32 => build_output::<f32>(&out_dev, cfg, counters),
        cpal::SampleFormat::I16 => build_output::<i16>(&out_dev, cfg, counters),
        cpal::SampleFormat::U16 => build_output::<u16>(&out_dev, cfg, counters),
        f => Err(BuildError::Format(f)),
    })
    .map_err(|e| dev_err(&out_dev, e.to_string()))?;
    in_stream
        .play()
        .map_err(|e| dev_err(&in_dev, e.to_string()))?;
    out_stream
        .play()
        .map_err(|e| dev_err(&out_dev, e.to_string()))?;
    Ok((
        (in_stream, out_stream),
        (cap_rx, play_tx, cap_rate, play_rate),
    ))
}

fn build_input<T>(
    dev: &cpal::Device,
    cfg: &cpal::StreamConfig,
    counters: &Arc<AudioCounters>,
) -> Result<(cpal::Stream, HeapCons<f32>), BuildError>
where
    T: cpal::SizedSample + Send + 'static,
    f32: cpal::FromSample<T>,
{
    use cpal::FromSample;
    use cpal::traits::DeviceTrait;
    let channels = usize::from(cfg.channels.max(1));
    let c = counters.clone();
    let (mut tx, rx) = ring(cfg.sample_rate.0);
    let stream = dev.build_input_stream(
        cfg,
        move |data: &[T], _: &cpal::InputCallbackInfo| {
            // Real-time thread: mix to mono straight into the ring.
            let mut dropped = 0u64;
            for frame in data.chunks(channels) {
                let sum: f32 = frame.iter().map(|&s| f32::from_sample_(s)).sum();
                if tx.try_push(sum / frame.len() as f32).is_err() {
                    dropped += 1;
                }
            }
            if dropped > 0 {
                c.overruns.fetch_add(dropped, Ordering::Relaxed);
            }
            c.wake.wake();
        },
        stream_error_handler(counters.clone()),
        None,
    )?;
    Ok((stream, rx))
}

fn build_output<T>(
    dev: &cpal::Device,
    cfg: &cpal::StreamConfig,
    counters: &Arc<AudioCounters>,
) -> Result<(cpal::Stream, HeapProd<f32>), BuildError>
where
    T: cpal::SizedSample + cpal::FromSample<f32> + Send + 'static,
{
    use cpal::traits::DeviceTrait;
    let channels = usize::from(cfg.channels.max(1));
    let c = counters.clone();
    let (tx, mut rx) = ring(cfg.sample_rate.0);
    let stream = dev.build_output_stream(
        cfg,
        move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
            let mut missing = 0u64;
            c.output_chunk_max
                .fetch_max((data.len() / channels) as u64, Ordering::Relaxed);
            for frame in data.chunks_mut(channels) {
                let v = rx.try_pop().unwrap_or_else(|| {
                    missing += 1;
                    0.0
                });
                let s = T::from_sample_(v);
                frame.fill(s);
            }
            if missing > 0 {
                c.underruns.fetch_add(missing, Ordering::Relaxed);
            }
            c.wake.wake();
        },
        stream_error_handler(counters.clone()),
        None,
    )?;
    Ok((stream, tx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(
        rates: (u32, u32),
        channels: u16,
        buffer: (u32, u32),
    ) -> cpal::SupportedStreamConfigRange {
        cpal::SupportedStreamConfigRange::new(
            channels,
            cpal::SampleRate(rates.0),
            cpal::SampleRate(rates.1),
            cpal::SupportedBufferSize::Range {
                min: buffer.0,
                max: buffer.1,
            },
            cpal::SampleFormat::F32,
        )
    }

    fn cd_default() -> cpal::SupportedStreamConfig {
        cpal::SupportedStreamConfig::new(
            2,
            cpal::SampleRate(44_100),
            cpal::SupportedBufferSize::Range {
                min: 16,
                max: 1 << 20,
            },
            cpal::SampleFormat::F32,
        )
    }

    #[test]
    fn device_config_takes_48_khz_and_the_buffer_when_offered() {
        let ms = Duration::from_millis;
        // What ALSA's PulseAudio plugin offers: any rate, any buffer; cpal's
        // default would be 44.1 kHz.
        let any = [range((1, 384_000), 2, (16, 1 << 20))];
        let (cfg, format) = choose_config(&cd_default(), &any, Some(ms(60)));
        assert_eq!(cfg.sample_rate.0, 48_000);
        assert_eq!(cfg.channels, 2);
        assert_eq!(format, cpal::SampleFormat::F32);
        assert_eq!(cfg.buffer_size, cpal::BufferSize::Fixed(2_880));

        // No 48 kHz with the default's channel count: the default rate, and
        // the buffer sized for it.
        let other = [
            range((44_100, 44_100), 2, (16, 1 << 20)),
            range((48_000, 48_000), 1, (16, 1 << 20)),
        ];
        let (cfg, _) = choose_config(&cd_default(), &other, Some(ms(60)));
        assert_eq!(cfg.sample_rate.0, 44_100);
        assert_eq!(cfg.buffer_size, cpal::BufferSize::Fixed(2_646));

        // A buffer the device cannot take, or none asked for: the device's
        // own default.
        let small = [range((48_000, 48_000), 2, (64, 1_024))];
        let (cfg, _) = choose_config(&cd_default(), &small, Some(ms(60)));
        assert_eq!(cfg.sample_rate.0, 48_000);
        assert_eq!(cfg.buffer_size, cpal::BufferSize::Default);
        let (cfg, _) = choose_config(&cd_default(), &any, None);
        assert_eq!(cfg.buffer_size, cpal::BufferSize::Default);
    }

    #[test]
    fn a_refused_buffer_size_falls_back_to_the_default() {
        let mut cfg = cd_default().config();
        cfg.buffer_size = cpal::BufferSize::Fixed(2_880);
        let mut tried = Vec::new();
        let got = with_buffer_fallback(&cfg, |c| {
            tried.push(c.buffer_size);
            match c.buffer_size {
                cpal::BufferSize::Fixed(_) => Err(BuildError::Build(
                    cpal::BuildStreamError::StreamConfigNotSupported,
                )),
                cpal::BufferSize::Default => Ok(7),
            }
        });
        assert_eq!(got.expect("fallback"), 7);
        assert_eq!(
            tried,
            [cpal::BufferSize::Fixed(2_880), cpal::BufferSize::Default]
        );
        // Any other failure is not retried.
        let mut calls = 0;
        let err = with_buffer_fallback(&cfg, |_| -> Result<(), _> {
            calls += 1;
            Err(BuildError::Format(cpal::SampleFormat::I8))
        });
        assert!(err.is_err());
        assert_eq!(calls, 1);
    }
}
