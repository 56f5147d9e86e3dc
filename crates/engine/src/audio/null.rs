//! The backend with no sound at all.

use super::{AudioBackend, AudioError, AudioIo, WavAudio};

/// Silence in, nothing out, at real-time pace.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullAudio;

impl AudioBackend for NullAudio {
    fn open(&self) -> Result<AudioIo, AudioError> {
        WavAudio::default().open()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use ringbuf::traits::Consumer;

    use super::*;

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
}
