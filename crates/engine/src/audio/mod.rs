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
//!
//! One file per backend (`null.rs`, `wav.rs`, `cpal.rs`); this one holds
//! what they share.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use ringbuf::traits::{Consumer, Observer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};

// `self::` because the `cpal` module shares its name with the crate.
mod cpal;
mod null;
mod wav;

pub use self::cpal::{CpalAudio, INPUT_BUFFER, OUTPUT_BUFFER, default_devices, list_devices};
pub use null::NullAudio;
pub use wav::{WavAudio, read_wav_mono_48k};

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

    /// Takes every captured sample waiting in the ring, through `scratch`,
    /// and returns the loudest one's magnitude (0 for none): the level of a
    /// microphone test, which listens without sending anything anywhere.
    pub fn drain_capture_peak(&mut self, scratch: &mut [f32]) -> f32 {
        let mut peak = 0.0f32;
        loop {
            let n = self.capture.pop_slice(scratch);
            if n == 0 {
                return peak;
            }
            peak = scratch[..n].iter().fold(peak, |m, s| m.max(s.abs()));
        }
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

/// Samples waiting in the playback ring (the engine's output latency).
pub fn playback_queued(io: &AudioIo) -> usize {
    io.playback.occupied_len()
}

#[cfg(test)]
mod tests {
    use ringbuf::traits::Producer;

    use super::*;

    fn io_with_capture(samples: &[f32]) -> AudioIo {
        let (mut cap_prod, capture) = ring(48_000);
        let (playback, _play_cons) = ring(48_000);
        assert_eq!(cap_prod.push_slice(samples), samples.len());
        AudioIo {
            capture,
            playback,
            capture_rate: 48_000,
            playback_rate: 48_000,
            counters: Arc::default(),
            stop: Arc::default(),
            thread: None,
        }
    }

    #[test]
    fn capture_peak_drains_everything_through_a_small_buffer() {
        // More samples than the scratch holds, the peak negative and late.
        let mut samples = vec![0.1f32; 1000];
        samples[900] = -0.75;
        let mut io = io_with_capture(&samples);
        let mut scratch = [0.0f32; 64];
        assert_eq!(io.drain_capture_peak(&mut scratch), 0.75);
        assert_eq!(io.drain_capture_peak(&mut scratch), 0.0);
    }
}
