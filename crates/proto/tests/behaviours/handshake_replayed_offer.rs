//! Old, future-dated, misaddressed and replayed offers are refused, each
//! with its own error kind.

use crate::common::*;
use core::time::Duration;
use proto::handshake::{HandshakeError, Offer, OfferPolicy, SeenOffers};
use proto::time::UnixTime;

fn policy() -> OfferPolicy {
    OfferPolicy {
        max_age: Duration::from_secs(60),
        max_clock_skew: Duration::from_secs(10),
    }
}

fn genuine() -> Offer {
    let (a, b) = (alice(), bob());
    offer(&a, &b).1
}

#[test]
fn an_offer_replayed_within_the_window_is_refused() {
    let a = alice();
    let mut seen = SeenOffers::new();
    let first = genuine()
        .verify(a.public(), "bob", NOW, &policy())
        .expect("fresh");
    seen.check_and_insert(&first, NOW, &policy())
        .expect("first time");
    let later = UnixTime::from_secs(NOW.as_secs() + 30);
    let replay = Offer::from_bytes(&genuine().to_bytes())
        .expect("parses")
        .verify(a.public(), "bob", later, &policy())
        .expect("still inside the window");
    assert_eq!(
        seen.check_and_insert(&replay, later, &policy()),
        Err(HandshakeError::ReplayedOffer)
    );
}

#[test]
fn an_offer_replayed_after_the_window_is_expired() {
    let late = UnixTime::from_secs(NOW.as_secs() + 61);
    assert_eq!(
        genuine()
            .verify(alice().public(), "bob", late, &policy())
            .err(),
        Some(HandshakeError::OfferExpired)
    );
    let edge = UnixTime::from_secs(NOW.as_secs() + 60);
    assert!(
        genuine()
            .verify(alice().public(), "bob", edge, &policy())
            .is_ok()
    );
}

#[test]
fn an_offer_from_the_future_is_refused() {
    let early = UnixTime::from_secs(NOW.as_secs() - 11);
    assert_eq!(
        genuine()
            .verify(alice().public(), "bob", early, &policy())
            .err(),
        Some(HandshakeError::OfferFromFuture)
    );
}

#[test]
fn an_offer_for_someone_else_is_refused() {
    assert_eq!(
        genuine()
            .verify(alice().public(), "carol", NOW, &policy())
            .err(),
        Some(HandshakeError::WrongCallee)
    );
}

#[test]
fn truncated_or_garbage_offers_are_malformed() {
    let bytes = genuine().to_bytes();
    for cut in [0usize, 1, 2, 18, 100, 3000, bytes.len() - 1] {
        assert!(Offer::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut next = bytes.clone();
    next[0] = proto::handshake::HANDSHAKE_VERSION + 1;
    assert_eq!(
        Offer::from_bytes(&next).err(),
        Some(HandshakeError::UnsupportedVersion(
            proto::handshake::HANDSHAKE_VERSION + 1
        ))
    );
    let mut long = bytes;
    long.push(0);
    assert!(Offer::from_bytes(&long).is_err());
}

#[test]
fn a_restored_set_still_refuses_a_replay_and_forgets_what_expired() {
    let a = alice();
    let policy = policy();
    let mut seen = SeenOffers::new();
    let first = genuine()
        .verify(a.public(), "bob", NOW, &policy)
        .expect("fresh");
    seen.check_and_insert(&first, NOW, &policy)
        .expect("first time");
    let saved: Vec<_> = seen.entries().collect();
    assert_eq!(saved.len(), 1);

    // Restored 30 s later (a client restart): the replay is still refused.
    let later = UnixTime::from_secs(NOW.as_secs() + 30);
    let mut restored = SeenOffers::restore(saved.clone(), later, &policy);
    let replay = genuine()
        .verify(a.public(), "bob", later, &policy)
        .expect("inside the window");
    assert_eq!(
        restored.check_and_insert(&replay, later, &policy),
        Err(HandshakeError::ReplayedOffer)
    );

    // Restored after the window: nothing is kept (the offer is expired).
    let past = UnixTime::from_secs(NOW.as_secs() + 71);
    assert_eq!(
        SeenOffers::restore(saved, past, &policy).entries().count(),
        0
    );

    // A stored list larger than the set holds is cut to the newest ids.
    let many = (0..SeenOffers::CAPACITY as u64 + 5).map(|i| {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&i.to_be_bytes());
        (
            proto::handshake::HandshakeCallId(id),
            UnixTime::from_secs(NOW.as_secs() + i % 7),
        )
    });
    let kept = SeenOffers::restore(many, NOW, &policy);
    assert_eq!(kept.entries().count(), SeenOffers::CAPACITY);
}
