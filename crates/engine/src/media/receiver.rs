//! Received frames to 20 ms of playback.

use std::time::Duration;

use proto::packet::{MAX_FRAMES_PER_PACKET, MediaFrame};

use crate::codec::{CodecError, FRAME_SAMPLES};
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats};
use crate::playout::Playout;

/// The receive half of the media pipeline: the frames of authenticated
/// packets in, 20 ms of decoded audio out each time playback asks. See the
/// module documentation of [`crate::media`].
///
/// Sans-IO: `now` is the receiver's own clock (arrival times and playback
/// must be on the same one); it never reads a clock itself.
#[derive(Debug)]
pub struct MediaReceiver {
    playout: Playout,
    /// When the first frame decoded from the network played.
    first_audio: Option<Duration>,
}

impl MediaReceiver {
    /// A receiver with an empty jitter buffer.
    pub fn new(jitter: JitterConfig) -> Result<Self, CodecError> {
        Ok(Self {
            playout: Playout::new(jitter)?,
            first_audio: None,
        })
    }

    /// Takes the frames of one media packet that arrived at `now`.
    /// `timestamp` is the packet's media timestamp (48 kHz ticks of its
    /// newest frame), `frames` its frames with their ages, as
    /// [`proto::packet::ReceivedMedia::frames`] yields them. Frames with an
    /// age beyond what a packet may carry are ignored; whatever the peer
    /// sent, this never panics.
    pub fn on_media<'a>(
        &mut self,
        now: Duration,
        timestamp: u32,
        frames: impl IntoIterator<Item = MediaFrame<'a>>,
    ) {
        let mut by_age: [&[u8]; MAX_FRAMES_PER_PACKET] = [&[]; MAX_FRAMES_PER_PACKET];
        for f in frames {
            if let Some(slot) = by_age.get_mut(usize::from(f.age)) {
                *slot = f.data;
            }
        }
        let index = timestamp / FRAME_SAMPLES as u32;
        self.playout.push(now, index, &by_age);
    }

    /// Writes the next [`FRAME_SAMPLES`] samples of playback into `out`
    /// (at least that long): a frame from its own packet or a redundant
    /// copy, one rebuilt from the next frame's FEC, concealment, or silence
    /// before anything arrived. Call it once per 20 ms of playback.
    pub fn play(&mut self, now: Duration, out: &mut [f32]) {
        self.playout.next_frame(now, out);
        if self.first_audio.is_none() && self.playout.stats().played > 0 {
            self.first_audio = Some(now);
        }
    }

    /// Jitter buffer counters since the start.
    pub fn stats(&self) -> JitterStats {
        self.playout.stats()
    }

    /// The jitter buffer, for its delay and jitter readings.
    pub fn buffer(&self) -> &JitterBuffer {
        self.playout.buffer()
    }

    /// When audio from the network first played, on the `now` clock.
    pub fn first_audio(&self) -> Option<Duration> {
        self.first_audio
    }
}

/// The playback ring level the call loop keeps topped up.
///
/// A sound server hands the device side its audio in chunks of its own
/// choosing (PipeWire's pulse layer took ~21 ms at a time here, and a whole
/// buffer at once when it starts or recovers). The ring must hold a whole
/// chunk when the next one is taken, or the speaker gets silence. So the
/// level is the configured low water or, if larger, the largest chunk seen
/// in the last one to two seconds plus [`PlaybackTarget::MARGIN`]: it rises
/// at once when chunks grow and falls back when a one-off big chunk ages
/// out, so a start-up fill does not cost delay for the rest of the call.
#[derive(Debug, Clone)]
pub struct PlaybackTarget {
    floor: usize,
    margin: usize,
    window_start: Duration,
    current: usize,
    previous: usize,
}

impl PlaybackTarget {
    /// Extra time kept above the largest chunk: 5 ms.
    pub const MARGIN: Duration = Duration::from_millis(5);
    /// How long one window of chunk sizes lasts.
    const WINDOW: Duration = Duration::from_secs(1);

    /// A target of at least `floor` samples at `rate` Hz.
    pub fn new(floor: usize, rate: u32) -> Self {
        Self {
            floor,
            margin: (Self::MARGIN.as_secs_f64() * f64::from(rate)) as usize,
            window_start: Duration::ZERO,
            current: 0,
            previous: 0,
        }
    }

    /// Notes the largest chunk taken since the last call (0 for none) at
    /// time `now` and returns the level to keep, in samples.
    pub fn observe(&mut self, now: Duration, chunk: usize) -> usize {
        if now.saturating_sub(self.window_start) >= Self::WINDOW {
            self.previous = self.current;
            self.current = 0;
            self.window_start = now;
        }
        self.current = self.current.max(chunk);
        self.level()
    }

    /// The level to keep, in samples.
    pub fn level(&self) -> usize {
        let chunk = self.current.max(self.previous);
        if chunk == 0 {
            self.floor
        } else {
            self.floor.max(chunk + self.margin)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playback_target_covers_the_device_chunk_and_forgets_a_one_off() {
        let ms = Duration::from_millis;
        // 48 kHz, 10 ms floor (480 samples), 5 ms margin (240).
        let mut t = PlaybackTarget::new(480, 48_000);
        assert_eq!(t.observe(ms(0), 0), 480, "no chunk seen: the floor");
        assert_eq!(t.observe(ms(5), 200), 480, "small chunks: the floor");
        // The device fills its whole buffer at start: 60 ms at once.
        assert_eq!(t.observe(ms(10), 2880), 2880 + 240);
        // Then it takes ~21 ms at a time; within two windows the fill is
        // forgotten.
        let mut at = 10;
        assert_eq!(t.observe(ms(at + 21), 1024), 2880 + 240, "still remembered");
        for _ in 0..120 {
            at += 21;
            t.observe(ms(at), 1024);
        }
        assert_eq!(t.level(), 1024 + 240, "the start-up fill aged out");
        // A quiet spell (no playback taken) keeps the last chunk size for a
        // window, then falls back to the floor.
        t.observe(ms(at + 1000), 0);
        assert_eq!(t.level(), 1024 + 240);
        t.observe(ms(at + 2000), 0);
        assert_eq!(t.level(), 480);
        // A floor above the chunks wins (the WAV clock: 10 ms chunks, a
        // 20 ms floor).
        let mut w = PlaybackTarget::new(960, 48_000);
        assert_eq!(w.observe(ms(0), 480), 960);
    }

    #[test]
    fn frames_of_any_age_or_size_never_panic() {
        let mut r = MediaReceiver::new(JitterConfig::default()).expect("receiver");
        let junk = [0xFFu8; 600];
        r.on_media(
            Duration::ZERO,
            u32::MAX,
            [
                MediaFrame {
                    age: 0,
                    data: &junk,
                },
                MediaFrame {
                    age: 255,
                    data: b"x",
                },
                MediaFrame { age: 1, data: &[] },
            ],
        );
        let mut out = [0.0f32; FRAME_SAMPLES];
        for k in 0..5u32 {
            r.play(Duration::from_millis(20) * k, &mut out);
        }
        assert!(out.iter().all(|x| x.is_finite()));
    }
}
