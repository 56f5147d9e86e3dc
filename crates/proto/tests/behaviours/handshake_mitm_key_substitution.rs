//! A registry that swaps keys cannot get in the middle: every substitution
//! is caught by the pinned keys or the signatures.

use crate::common::*;
use proto::handshake::{Answer, ExpectAnswer, HandshakeError, Offer, OfferParams, OfferPolicy};

/// Mallory (the registry) makes her own offer in Alice's name, with her own
/// identity key and her own ephemeral key. Bob has Alice's key pinned.
#[test]
fn offer_resigned_by_the_registry_is_refused_by_the_pinned_key() {
    let (a, b, m) = (alice(), bob(), mallory());
    let forged_params = OfferParams {
        caller: "alice".into(),
        ..params()
    };
    let (_, forged) =
        ExpectAnswer::start(&m, forged_params, b.public().clone(), [9; 32], [8; 32], NOW)
            .expect("mallory can build an offer");
    let forged = Offer::from_bytes(&forged.to_bytes()).expect("well-formed");
    assert_eq!(forged.caller(), "alice");
    assert_eq!(
        forged
            .verify(a.public(), "bob", NOW, &OfferPolicy::default())
            .err(),
        Some(HandshakeError::PinnedKeyMismatch)
    );
}

/// Mallory keeps Alice's signature but puts her own identity key in the
/// offer, hoping Bob trusts the key inside the message. Bob checks against
/// the key he pinned, and the signature check would fail anyway.
#[test]
fn swapping_only_the_identity_key_inside_the_offer_fails() {
    let (a, b, m) = (alice(), bob(), mallory());
    let (_, offer) = offer(&a, &b);
    let mut bytes = offer.to_bytes();
    let id_at = 2 + 16 + 1 + "alice".len() + 1 + "bob".len();
    let len = proto::identity::PUBLIC_IDENTITY_ENCODED_LEN;
    bytes[id_at..id_at + len].copy_from_slice(&m.public().to_bytes());
    let swapped = Offer::from_bytes(&bytes).expect("well-formed");
    assert_eq!(
        swapped
            .clone()
            .verify(a.public(), "bob", NOW, &OfferPolicy::default())
            .err(),
        Some(HandshakeError::PinnedKeyMismatch)
    );
    // Even a victim who pinned Mallory's key would see a bad signature.
    assert_eq!(
        swapped
            .verify(m.public(), "bob", NOW, &OfferPolicy::default())
            .err(),
        Some(HandshakeError::BadSignature)
    );
}

/// Mallory replaces the ephemeral X-Wing key with her own so that she could
/// decapsulate Bob's answer. The signature covers the key.
#[test]
fn swapping_the_ephemeral_key_breaks_the_signature() {
    let (a, b) = (alice(), bob());
    let (_, offer) = offer(&a, &b);
    let (_, other) = ExpectAnswer::start(
        &a,
        params(),
        b.public().clone(),
        [0x99; 32],
        [0x98; 32],
        NOW,
    )
    .expect("start");
    let mut bytes = offer.to_bytes();
    let ek_at = 2 + 16 + 1 + 5 + 1 + 3 + proto::identity::PUBLIC_IDENTITY_ENCODED_LEN;
    let other_bytes = other.to_bytes();
    bytes[ek_at..ek_at + 1216].copy_from_slice(&other_bytes[ek_at..ek_at + 1216]);
    let swapped = Offer::from_bytes(&bytes).expect("well-formed");
    assert_eq!(
        swapped
            .verify(a.public(), "bob", NOW, &OfferPolicy::default())
            .err(),
        Some(HandshakeError::BadSignature)
    );
}

/// Mallory answers Alice's offer herself, signed with her own key, while
/// Alice has Bob's key pinned.
#[test]
fn answer_from_the_registry_is_refused_by_the_callers_pinned_key() {
    let (a, b, m) = (alice(), bob(), mallory());
    let (waiting, offer) = offer(&a, &b);
    // Mallory verifies as if she were Bob (she is addressed as "bob").
    let verified = offer
        .verify(a.public(), "bob", NOW, &OfferPolicy::default())
        .expect("genuine offer");
    let (answer, _) = verified.accept(&m, vec![], [3; 32], NOW).expect("accept");
    let answer = Answer::from_bytes(&answer.to_bytes()).expect("well-formed");
    let rejected = waiting
        .handle_answer(&answer, NOW, &Default::default())
        .expect_err("must refuse");
    assert_eq!(rejected.error, HandshakeError::PinnedKeyMismatch);
}
