//! Sliding-window replay protection for one receiving direction.
//!
//! Packet numbers are 64-bit, start at 0, grow by one per packet and never
//! repeat within a direction (across key epochs too). The window remembers
//! which of the last [`ReplayWindow::WIDTH`] numbers below the highest seen
//! number have arrived, as a ring of 64-bit words (the layout of RFC 6479):
//! a packet is refused when its bit is already set (duplicate) or when it is
//! older than the window (too old to tell).
//!
//! The check and the update are separate on purpose. The receiver first
//! *checks* (cheap, before any decryption), then decrypts, and *updates*
//! only once the packet authenticated; otherwise a forged packet number
//! could shift the window and make genuine packets look old.

/// Why a packet number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// This packet number was already received.
    #[error("duplicate packet")]
    Duplicate,
    /// The packet number is older than the window remembers.
    #[error("packet older than the replay window")]
    TooOld,
}

const WORDS: usize = 32;
const BITS: u64 = (WORDS as u64) * 64;

/// A replay window at least 1984 packets wide (about 40 s of 20 ms
/// packets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Highest packet number accepted so far, plus one; zero when nothing
    /// has been accepted yet.
    top: u64,
    ring: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    /// How far below the highest accepted number a packet may be and still
    /// be accepted. One word of the ring is kept as slack so that advancing
    /// clears whole words (RFC 6479).
    pub const WIDTH: u64 = BITS - 64;

    /// An empty window.
    pub const fn new() -> Self {
        Self {
            top: 0,
            ring: [0; WORDS],
        }
    }

    /// Highest accepted packet number, if any.
    pub fn highest(&self) -> Option<u64> {
        self.top.checked_sub(1)
    }

    /// Whether `pn` would be accepted now. Does not change the window.
    pub fn check(&self, pn: u64) -> Result<(), ReplayError> {
        let Some(highest) = self.highest() else {
            return Ok(());
        };
        if pn > highest {
            return Ok(());
        }
        if highest - pn >= Self::WIDTH {
            return Err(ReplayError::TooOld);
        }
        if self.ring[word_index(pn)] & bit(pn) != 0 {
            return Err(ReplayError::Duplicate);
        }
        Ok(())
    }

    /// Marks `pn` as received. Call only after the packet authenticated
    /// and [`ReplayWindow::check`] accepted it.
    pub fn update(&mut self, pn: u64) {
        match self.highest() {
            Some(highest) if pn <= highest => {}
            Some(highest) => {
                // Clear the words that the window slides over. Word k of the
                // ring holds numbers 64k..64k+63 (mod the ring size).
                let old_word = highest / 64;
                let new_word = pn / 64;
                let steps = (new_word - old_word).min(WORDS as u64);
                for i in 1..=steps {
                    self.ring[((old_word + i) % WORDS as u64) as usize] = 0;
                }
                self.top = pn.saturating_add(1);
            }
            None => {
                self.ring = [0; WORDS];
                self.top = pn.saturating_add(1);
            }
        }
        self.ring[word_index(pn)] |= bit(pn);
    }

    /// [`ReplayWindow::check`] followed by [`ReplayWindow::update`].
    pub fn check_and_update(&mut self, pn: u64) -> Result<(), ReplayError> {
        self.check(pn)?;
        self.update(pn);
        Ok(())
    }
}

fn word_index(pn: u64) -> usize {
    ((pn / 64) % WORDS as u64) as usize
}

fn bit(pn: u64) -> u64 {
    1u64 << (pn % 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_window_accepts_anything_once() {
        let mut w = ReplayWindow::new();
        assert_eq!(w.check_and_update(5), Ok(()));
        assert_eq!(w.check_and_update(5), Err(ReplayError::Duplicate));
        assert_eq!(w.check_and_update(3), Ok(()));
        assert_eq!(w.check_and_update(0), Ok(()));
        assert_eq!(w.check_and_update(0), Err(ReplayError::Duplicate));
    }

    #[test]
    fn window_is_at_least_1024_wide_and_refuses_older() {
        let mut w = ReplayWindow::new();
        const { assert!(ReplayWindow::WIDTH >= 1024) };
        w.update(10_000);
        assert_eq!(w.check(10_000 - ReplayWindow::WIDTH + 1), Ok(()));
        assert_eq!(
            w.check(10_000 - ReplayWindow::WIDTH),
            Err(ReplayError::TooOld)
        );
        assert_eq!(w.check(10_000 - 1024), Ok(()));
    }

    #[test]
    fn a_big_jump_clears_stale_bits() {
        let mut w = ReplayWindow::new();
        for pn in 0..200 {
            w.update(pn);
        }
        // Jump by exactly one ring: old bits for the same slots must not
        // make new numbers look duplicate.
        w.update(199 + BITS);
        for pn in (199 + BITS - 100)..(199 + BITS) {
            assert_eq!(w.check(pn), Ok(()), "pn {pn}");
        }
    }

    #[test]
    fn highest_number_does_not_overflow() {
        let mut w = ReplayWindow::new();
        w.update(u64::MAX - 1);
        assert_eq!(w.check(u64::MAX - 1), Err(ReplayError::Duplicate));
        assert_eq!(w.check(u64::MAX - 2), Ok(()));
    }
}
