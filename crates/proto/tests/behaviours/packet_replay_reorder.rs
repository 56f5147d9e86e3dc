//! Duplicated and replayed packets are refused, reordered ones inside the
//! window are accepted exactly once, and very old ones are refused.

use crate::common::*;
use proto::replay::{ReplayError, ReplayWindow};
use proto::session::{PacketError, SessionConfig};
use proto::time::Instant;

#[test]
fn duplicates_are_refused_and_reordered_packets_accepted_once() {
    let t = Instant::from_micros(0);
    let (mut a, mut b) = sessions(SessionConfig::default(), t);
    let packets: Vec<Vec<u8>> = (0..10).map(|i| media_packet(&mut a, t, i)).collect();
    // Deliver in a scrambled order with duplicates.
    let order = [3usize, 0, 1, 3, 9, 2, 2, 8, 4, 5, 7, 6, 0, 9];
    let mut accepted = Vec::new();
    let mut refused = 0;
    for &i in &order {
        match open_media(&mut b, t, &packets[i]) {
            Ok(seq) => accepted.push(seq),
            Err(e) => {
                assert_eq!(
                    e,
                    format!("{:?}", PacketError::Replayed(ReplayError::Duplicate))
                );
                refused += 1;
            }
        }
    }
    accepted.sort_unstable();
    assert_eq!(accepted, (0..10).collect::<Vec<_>>());
    assert_eq!(refused, 4);
    assert_eq!(b.stats().replayed, 4);
    assert_eq!(b.stats().lost, 0);
}

#[test]
fn packets_older_than_the_window_are_refused() {
    let t = Instant::from_micros(0);
    let (mut a, mut b) = sessions(SessionConfig::default(), t);
    let first = media_packet(&mut a, t, 0);
    let width = ReplayWindow::WIDTH as u32;
    let mut last = Vec::new();
    for i in 1..=width {
        last = media_packet(&mut a, t, i);
    }
    assert_eq!(open_media(&mut b, t, &last), Ok(width));
    assert_eq!(
        open_media(&mut b, t, &first),
        Err(format!("{:?}", PacketError::Replayed(ReplayError::TooOld)))
    );
    // Everything skipped counts as lost until it arrives.
    assert_eq!(b.stats().lost, u64::from(width));
}

#[test]
fn a_forged_packet_number_does_not_move_the_window() {
    let t = Instant::from_micros(0);
    let (mut a, mut b) = sessions(SessionConfig::default(), t);
    let genuine = media_packet(&mut a, t, 0);
    let mut forged = genuine.clone();
    forged[2..10].copy_from_slice(&1_000_000u64.to_be_bytes());
    assert!(open_media(&mut b, t, &forged).is_err());
    // Had the window moved to 1 000 000, packet 0 would now be "too old".
    assert_eq!(open_media(&mut b, t, &genuine), Ok(0));
}
