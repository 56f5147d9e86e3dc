//! Sound in and out, behind one interface.
//!
//! Every backend delivers the same thing, an [`AudioIo`]: a lock-free ring
//! the capture side fills with mono samples and a ring the playback side
//! drains, plus shared counters and flags. The engine never knows whether a
//! sound card, a pair of WAV files or nothing at all sits behind the rings.
//!
//! * [`CpalAudio`]: real devices, picked by name or the system default. The
//!   device callbacks only push to or pop from the rings and bump atomic
//!   counters: no locks, no allocation, no logging. A device that vanishes
//!   raises [`AudioIo::device_lost`] instead of panicking. cpal streams must
//!   stay on the thread that made them, so a small device thread owns them.
//!   Devices are opened at the engine's 48 kHz when they offer it (no
//!   resampling either side) and with buffers sized for a call
//!   ([`OUTPUT_BUFFER`], [`INPUT_BUFFER`]) rather than cpal's defaults.
//! * [`WavAudio`]: reads the input file and writes the output file clocked in
//!   real time by one thread, every 10 ms. Input and output share that one
//!   clock, so sample 0 of the output is the instant sample 0 of the input
//!   was "captured": the round trip of a call to an echo bot can be measured
//!   by cross-correlation.
//! * [`NullAudio`]: captures silence and discards playback, in real time.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};

use crate::codec::SAMPLE_RATE;
use crate::resample::StreamResampler;

/// Wakes the call loop when the device side has moved samples.
///
/// The call loop waits in one poll on its socket and on this waker, so a
/// captured frame is encoded, and a draining playback ring refilled, as soon
/// as the device delivers or takes samples rather than at the next timer
/// tick. Ringing it is one non-blocking write to an eventfd (a pipe on some
/// systems): safe from a real-time callback, no lock, no allocation.
#[derive(Debug, Default)]
pub struct AudioWake(std::sync::OnceLock<mio::Waker>);

impl AudioWake {
    /// Installs the waker to ring; only the first call takes effect.
    pub fn set(&self, waker: mio::Waker) {
        let _ = self.0.set(waker);
    }

    /// Wakes the call loop, if one is waiting.
    pub fn wake(&self) {
        if let Some(w) = self.0.get() {
            // A full eventfd means a wake-up is already pending.
            let _ = w.wake();
        }
    }
}

/// Counters and flags shared with the device side.
#[derive(Debug, Default)]
pub struct AudioCounters {
    /// Rung after each batch of samples captured or played.
    pub wake: AudioWake,
    /// Playback wanted samples the engine had not provided (silence played).
    pub underruns: AtomicU64,
    /// Capture produced samples the engine had no room for (dropped).
    pub overruns: AtomicU64,
    /// Non-fatal stream errors reported by the backend.
    pub errors: AtomicU64,
    /// Set when a device disappeared; the call should report it.
    pub device_lost: AtomicBool,
    /// Set when a finite input (a WAV file) has been fully captured.
    pub input_finished: AtomicBool,
    /// The most frames the playback side has taken in one go since the
    /// call loop last looked (it swaps in 0). The loop keeps at least that
    /// much queued, or playback would run dry before its next turn: a
    /// sound server may ask for 20 ms or more at a time.
    pub output_chunk_max: AtomicU64,
}

/// Errors opening audio.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// No device with that name, or no default device.
    #[error("no audio device {0}")]
    NoDevice(String),
    /// The device refused to open or start.
    #[error("audio device {device}: {reason}")]
    Device {
        /// Which device.
        device: String,
        /// What went wrong.
        reason: String,
    },
    /// A WAV file could not be read or written.
    #[error("WAV file {path}: {reason}")]
    Wav {
        /// Which file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// An open pair of audio streams.
pub struct AudioIo {
    /// Mono capture samples at [`AudioIo::capture_rate`].
    pub capture: HeapCons<f32>,
    /// Mono playback samples at [`AudioIo::playback_rate`].
    pub playback: HeapProd<f32>,
    /// Rate of the capture ring.
    pub capture_rate: u32,
    /// Rate of the playback ring.
    pub playback_rate: u32,
    /// Shared counters.
    pub counters: Arc<AudioCounters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for AudioIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioIo")
            .field("capture_rate", &self.capture_rate)
            .field("playback_rate", &self.playback_rate)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl AudioIo {
    /// Whether the device side is gone (device unplugged, stream died).
    pub fn device_lost(&self) -> bool {
        self.counters.device_lost.load(Ordering::Relaxed)
    }

    /// Stops the streams, finishing any output file. Also done on drop.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            // A device thread that panicked has nothing left to finish.
            let _ = t.join();
        }
    }
}

impl Drop for AudioIo {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Something that can open an [`AudioIo`].
pub trait AudioBackend {
    /// Opens capture and playback and starts them running.
    fn open(&self) -> Result<AudioIo, AudioError>;
}

/// Ring capacity: one second at 48 kHz, far more than the engine ever keeps.
fn ring(rate: u32) -> (HeapProd<f32>, HeapCons<f32>) {
    HeapRb::<f32>::new(rate as usize).split()
}

/// Silence in, nothing out, at real-time pace.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullAudio;

impl AudioBackend for NullAudio {
    fn open(&self) -> Result<AudioIo, AudioError> {
        WavAudio::default().open()
    }
}

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

/// Samples waiting in the playback ring (the engine's output latency).
pub fn playback_queued(io: &AudioIo) -> usize {
    io.playback.occupied_len()
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
    fn the_clock_wakes_a_waiting_call_loop_as_samples_arrive() {
        let mut io = NullAudio.open().expect("open");
        let mut poll = mio::Poll::new().expect("poll");
        let mut events = mio::Events::with_capacity(4);
        let token = mio::Token(7);
        io.counters
            .wake
            .set(mio::Waker::new(poll.registry(), token).expect("waker"));
        // Nothing else is registered: only the audio side can end a wait.
        let (mut wakes, mut samples) = (0, 0);
        let mut buf = [0.0f32; 4800];
        let t0 = Instant::now();
        while wakes < 5 && t0.elapsed() < Duration::from_secs(5) {
            poll.poll(&mut events, Some(Duration::from_secs(1)))
                .expect("poll");
            if events.iter().any(|e| e.token() == token) {
                wakes += 1;
                samples += io.capture.pop_slice(&mut buf);
            }
        }
        assert_eq!(wakes, 5, "the clock stopped ringing");
        // Each ring came with (or after) a 10 ms block of capture.
        assert!(
            samples >= 4 * 480,
            "{samples} samples over {wakes} wake-ups"
        );
        io.close();
    }

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
