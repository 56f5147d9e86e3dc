//! The controls other threads hold on a running call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// What other threads may do to a running call: hang up, mute, read the
/// level meters. Cheap to clone; every clone controls the same call.
#[derive(Debug, Clone, Default)]
pub struct CallHandle {
    hang_up: Arc<AtomicBool>,
    mute: Arc<AtomicBool>,
    levels: Arc<Levels>,
}

impl CallHandle {
    /// Ends the call from this side; the loop notices within one wait of
    /// its poll (50 ms at most) and sends its goodbye.
    pub fn hang_up(&self) {
        self.hang_up.store(true, Ordering::Relaxed);
    }

    /// Whether [`CallHandle::hang_up`] was called.
    pub fn is_hung_up(&self) -> bool {
        self.hang_up.load(Ordering::Relaxed)
    }

    /// Mutes or unmutes the microphone: while muted, silence is sent, in
    /// packets of the same size and rate as speech.
    pub fn set_muted(&self, muted: bool) {
        self.mute.store(muted, Ordering::Relaxed);
    }

    /// Whether the microphone is muted.
    pub fn is_muted(&self) -> bool {
        self.mute.load(Ordering::Relaxed)
    }

    /// Peak levels of the microphone and the speaker, for meters.
    pub fn levels(&self) -> &Levels {
        &self.levels
    }
}

/// Peak levels on each side since a meter last took them, shared with a UI
/// thread that polls them (stored as `f32` bits; 0 = silence, 1 = full
/// scale). Writing is one relaxed `fetch_max` per frame: for the
/// non-negative floats stored here the bit patterns order as the values do.
/// A meter that polls every 250 ms thus shows the loudest of the twelve or
/// thirteen frames since its last look, not whichever frame came last.
#[derive(Debug, Default)]
pub struct Levels {
    mic: AtomicU32,
    speaker: AtomicU32,
}

impl Levels {
    /// The microphone's peak level since the last [`Levels::take`], 0..=1.
    pub fn mic(&self) -> f32 {
        f32::from_bits(self.mic.load(Ordering::Relaxed))
    }

    /// The speaker's peak level since the last [`Levels::take`], 0..=1.
    pub fn speaker(&self) -> f32 {
        f32::from_bits(self.speaker.load(Ordering::Relaxed))
    }

    /// The peaks since the last call, (microphone, speaker); both start
    /// again from silence.
    pub fn take(&self) -> (f32, f32) {
        (
            f32::from_bits(self.mic.swap(0, Ordering::Relaxed)),
            f32::from_bits(self.speaker.swap(0, Ordering::Relaxed)),
        )
    }

    /// Records the microphone's frame.
    pub fn set_mic(&self, frame: &[f32]) {
        self.mic.fetch_max(peak(frame).to_bits(), Ordering::Relaxed);
    }

    /// Records the speaker's frame.
    pub fn set_speaker(&self, frame: &[f32]) {
        self.speaker
            .fetch_max(peak(frame).to_bits(), Ordering::Relaxed);
    }
}

/// Peak magnitude, clamped to 0..=1.
fn peak(frame: &[f32]) -> f32 {
    frame
        .iter()
        .fold(0.0f32, |m, s| m.max(s.abs()))
        .clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_report_the_loudest_frame_since_the_last_take() {
        let l = Levels::default();
        assert_eq!(l.take(), (0.0, 0.0));
        l.set_mic(&[0.1, -0.5, 0.2]);
        l.set_mic(&[0.05, 0.3]);
        l.set_speaker(&[2.0]);
        l.set_speaker(&[f32::NAN, 0.1]);
        // A quieter frame after a loud one does not lower the peak, and
        // anything beyond full scale reads as full scale.
        assert_eq!(l.mic(), 0.5);
        assert_eq!(l.speaker(), 1.0);
        assert_eq!(l.take(), (0.5, 1.0));
        // Taking starts both from silence again.
        assert_eq!(l.take(), (0.0, 0.0));
        l.set_mic(&[-0.25]);
        assert_eq!(l.take(), (0.25, 0.0));
    }
}
