//! The engine's one reading of the wall clock.
//!
//! proto never reads a clock; it takes Unix time as an argument. Everything
//! above it that needs "now" as Unix time (offers, sign-in timestamps,
//! token lifetimes, call history) asks here, so the conversion and its
//! fallback live in one place. Timers inside a call use monotonic
//! `std::time::Instant` instead and are not concerned.

use std::time::{SystemTime, UNIX_EPOCH};

use proto::time::UnixTime;

/// Now, in whole seconds since 1970-01-01 UTC.
pub fn unix_now() -> UnixTime {
    UnixTime::from_secs(unix_now_ms() / 1000)
}

/// Now, in milliseconds since 1970-01-01 UTC.
///
/// A clock set before 1970 reads as 0 rather than failing: the values
/// only date records and are checked against the peer's own clock with a
/// tolerance, so a broken clock shows up as a stale timestamp, not a crash.
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
