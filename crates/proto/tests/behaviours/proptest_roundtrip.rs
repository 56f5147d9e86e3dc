//! Property tests: any media that fits survives seal → open unchanged,
//! and the replay window accepts every packet number exactly once within
//! its width, whatever the arrival order.

use std::cell::RefCell;
use std::collections::HashSet;

use crate::common::*;
use proptest::prelude::*;
use proto::packet::{MediaFrame, MediaPayload};
use proto::replay::{ReplayError, ReplayWindow};
use proto::session::{CallSession, Incoming, SessionConfig};
use proto::time::Instant;

thread_local! {
    // One handshake for all cases: a handshake per case would dominate the
    // run time, and reusing the sessions also exercises long-lived state.
    static PAIR: RefCell<(CallSession, CallSession)> =
        RefCell::new(sessions(SessionConfig::default(), Instant::from_micros(0)));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn seal_then_open_returns_the_same_media(
        timestamp in any::<u32>(),
        frames in proptest::collection::vec(
            // 4 × 48 bytes is the most that fits the default 240-byte
            // packet (checked below); larger payloads are refused by
            // design (see the packet module tests).
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..=48)),
            1..=4,
        ),
        skip in 0u32..50,
    ) {
        PAIR.with_borrow_mut(|(a, b)| -> Result<(), TestCaseError> {
        let t = Instant::from_micros(0);
        // Skip some packet numbers (as if lost) so cases differ in pn.
        for i in 0..skip {
            let _ = media_packet(a, t, i);
        }
        let frame_refs: Vec<MediaFrame<'_>> = frames
            .iter()
            .map(|(age, data)| MediaFrame { age: *age, data })
            .collect();
        let payload = MediaPayload { timestamp, frames: &frame_refs };
        prop_assert!(4 * 48 <= a.frame_capacity(4));
        let mut buf = vec![0u8; a.packet_len()];
        let n = a.send_media(t, &payload, &mut buf).expect("at most 4×48 bytes fit");
        prop_assert_eq!(n, a.packet_len());
        match b.handle_datagram(t, &mut buf[..n]) {
            Ok(Incoming::Media(m)) => {
                prop_assert_eq!(m.timestamp, timestamp);
                prop_assert_eq!(Some(m.packet_number), a.stats().sent.checked_sub(1));
                let got: Vec<MediaFrame<'_>> = m.frames().collect();
                prop_assert_eq!(got, frame_refs);
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
        Ok(())
        })?;
    }

    #[test]
    fn replay_window_accepts_each_number_once(
        numbers in proptest::collection::vec(0u64..3000, 1..400),
    ) {
        let mut w = ReplayWindow::new();
        let mut accepted = HashSet::new();
        let mut highest: Option<u64> = None;
        for pn in numbers {
            let result = w.check_and_update(pn);
            let too_old = highest.is_some_and(|h| pn + ReplayWindow::WIDTH <= h);
            if too_old {
                prop_assert_eq!(result, Err(ReplayError::TooOld));
            } else if accepted.contains(&pn) {
                prop_assert_eq!(result, Err(ReplayError::Duplicate));
            } else {
                prop_assert_eq!(result, Ok(()));
                accepted.insert(pn);
                highest = Some(highest.map_or(pn, |h| h.max(pn)));
            }
        }
    }

    #[test]
    fn opening_random_bytes_never_panics_and_never_succeeds(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = bytes;
        let opened = PAIR.with_borrow_mut(|(_, b)| {
            b.handle_datagram(Instant::from_micros(0), &mut bytes).is_ok()
        });
        prop_assert!(!opened);
    }
}
