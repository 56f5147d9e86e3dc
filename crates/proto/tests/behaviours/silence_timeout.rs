//! With a virtual clock: 10 s without an authenticated packet ends the
//! call, and authenticated traffic (not forged traffic) keeps it alive.

use crate::common::*;
use core::time::Duration;
use proto::session::{CallSession, SessionConfig, SessionEvent};
use proto::time::Instant;

/// Jumps the virtual clock from timeout to timeout, as the engine would,
/// until the session closes or `limit` is reached.
fn run_timers(s: &mut CallSession, mut now: Instant, limit: Instant) -> Instant {
    let mut buf = vec![0u8; s.packet_len()];
    while let Some(next) = s.poll_timeout() {
        if next > limit {
            break;
        }
        assert!(next >= now, "timeouts never go back in time");
        now = next;
        s.handle_timeout(now);
        while s.poll_transmit(now, &mut buf).is_some() {}
    }
    now
}

#[test]
fn ten_seconds_of_silence_ends_the_call() {
    let t0 = Instant::from_micros(5_000_000);
    let (mut a, _b) = sessions(SessionConfig::default(), t0);
    let ended = run_timers(&mut a, t0, t0 + Duration::from_secs(60));
    assert!(a.is_closed());
    assert_eq!(ended, t0 + Duration::from_secs(10));
    let events: Vec<_> = std::iter::from_fn(|| a.poll_event()).collect();
    assert_eq!(events.last(), Some(&SessionEvent::TimedOut));
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn authenticated_packets_keep_the_call_alive_and_forged_ones_do_not() {
    let t0 = Instant::from_micros(0);
    let (mut a, mut b) = sessions(SessionConfig::default(), t0);
    // Bob's packet at 9 s resets Alice's timer.
    let t9 = t0 + Duration::from_secs(9);
    run_timers(&mut a, t0, t9);
    let p = media_packet(&mut b, t9, 1);
    assert_eq!(open_media(&mut a, t9, &p), Ok(1));
    run_timers(&mut a, t9, t0 + Duration::from_secs(18));
    assert!(!a.is_closed(), "alive at 18 s: last packet at 9 s");
    // Forged packets at 18 s do not count.
    let mut forged = media_packet(&mut b, t9, 2);
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(open_media(&mut a, t0 + Duration::from_secs(18), &forged).is_err());
    let end = run_timers(
        &mut a,
        t0 + Duration::from_secs(18),
        t0 + Duration::from_secs(60),
    );
    assert_eq!(end, t0 + Duration::from_secs(19));
    assert!(a.is_closed());
}

#[test]
fn pings_measure_round_trip_time_on_the_virtual_clock() {
    let t0 = Instant::from_micros(0);
    let (mut a, mut b) = sessions(SessionConfig::default(), t0);
    a.handle_timeout(t0); // first ping is due immediately
    pump_control(&mut a, &mut b, t0 + Duration::from_millis(40));
    pump_control(&mut b, &mut a, t0 + Duration::from_millis(80));
    assert_eq!(a.stats().rtt, Some(Duration::from_millis(80)));
    assert!(
        std::iter::from_fn(|| a.poll_event())
            .any(|e| e == SessionEvent::RoundTrip(Duration::from_millis(80)))
    );
}

#[test]
fn hang_up_sends_bye_and_the_peer_sees_it() {
    let t0 = Instant::from_micros(0);
    let (mut a, mut b) = sessions(SessionConfig::default(), t0);
    a.hang_up(proto::control::ByeReason::HungUp);
    assert!(
        a.send_media(
            t0,
            &proto::packet::MediaPayload {
                timestamp: 0,
                frames: &[]
            },
            &mut [0u8; 300]
        )
        .is_err()
    );
    assert_eq!(pump_control(&mut a, &mut b, t0), 3);
    assert!(a.is_closed());
    assert!(b.is_closed());
    assert!(std::iter::from_fn(|| b.poll_event()).any(|e| matches!(
        e,
        SessionEvent::PeerHungUp {
            reason: proto::control::ByeReason::HungUp
        }
    )));
}
