//! Time as plain numbers handed in by the caller.
//!
//! proto never reads a clock. The engine converts its own clock readings
//! into these two types and passes them to every function whose result
//! depends on time, which is what lets tests run a ten-second silence in a
//! microsecond with a virtual clock.
//!
//! * [`Instant`]: monotonic microseconds since an arbitrary origin chosen by
//!   the caller (e.g. process start). Only differences mean anything. Used
//!   for timers inside a call.
//! * [`UnixTime`]: wall-clock seconds since 1970-01-01 UTC. Used where two
//!   machines must agree on "now": the freshness window of an offer.

use core::ops::{Add, Sub};
use core::time::Duration;

/// A monotonic point in time, in microseconds since a caller-chosen origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The caller's origin.
    pub const ZERO: Instant = Instant(0);

    /// Builds an instant from microseconds since the caller's origin.
    pub const fn from_micros(micros: u64) -> Self {
        Self(micros)
    }

    /// Microseconds since the caller's origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        // Saturate rather than wrap: a timer 584 000 years away is "never".
        let micros = u64::try_from(rhs.as_micros()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(micros))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

/// Wall-clock time in whole seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(u64);

impl UnixTime {
    /// Builds a wall-clock time from seconds since 1970-01-01 UTC.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// Seconds since 1970-01-01 UTC.
    pub const fn as_secs(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_arithmetic_saturates_instead_of_wrapping() {
        let t = Instant::from_micros(5);
        assert_eq!(t + Duration::from_micros(7), Instant::from_micros(12));
        assert_eq!(Instant::from_micros(3) - t, Duration::ZERO);
        assert_eq!(t - Instant::from_micros(3), Duration::from_micros(2));
        assert_eq!(
            Instant::from_micros(u64::MAX) + Duration::from_secs(1),
            Instant::from_micros(u64::MAX)
        );
    }
}
