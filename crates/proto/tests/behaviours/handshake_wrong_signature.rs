//! A handshake message whose signature does not verify is refused, on both
//! sides, with `BadSignature`, and the caller keeps waiting.

use crate::common::*;
use proto::handshake::{Answer, HandshakeError, Offer, OfferPolicy};

#[test]
fn offer_with_a_flipped_field_fails_its_signature() {
    let (a, b) = (alice(), bob());
    let (_, offer) = offer(&a, &b);
    let mut bytes = offer.to_bytes();
    // The last byte of the body is the low byte of the timestamp: still
    // parses, but is no longer what was signed.
    let ts_low = bytes.len() - proto::identity::HYBRID_SIGNATURE_ENCODED_LEN - 1;
    bytes[ts_low] ^= 1;
    let tampered = Offer::from_bytes(&bytes).expect("still well-formed");
    assert_eq!(
        tampered
            .verify(a.public(), "bob", NOW, &OfferPolicy::default())
            .err(),
        Some(HandshakeError::BadSignature)
    );
}

#[test]
fn offer_with_a_flipped_signature_byte_fails() {
    let (a, b) = (alice(), bob());
    let (_, offer) = offer(&a, &b);
    let mut bytes = offer.to_bytes();
    let n = bytes.len();
    bytes[n - 100] ^= 0x80; // inside the ML-DSA half
    match Offer::from_bytes(&bytes) {
        Ok(o) => assert_eq!(
            o.verify(a.public(), "bob", NOW, &OfferPolicy::default())
                .err(),
            Some(HandshakeError::BadSignature)
        ),
        Err(e) => assert!(matches!(e, HandshakeError::Malformed(_))),
    }
}

#[test]
fn answer_with_a_flipped_ciphertext_byte_is_refused_and_caller_keeps_waiting() {
    let (a, b) = (alice(), bob());
    let (waiting, offer) = offer(&a, &b);
    let verified = offer
        .verify(a.public(), "bob", NOW, &OfferPolicy::default())
        .expect("genuine offer");
    let (answer, _) = verified
        .accept(&b, vec![], [0x22; 32], NOW)
        .expect("accept");
    let genuine = answer.to_bytes();
    let mut bytes = genuine.clone();
    bytes[2 + 16 + proto::identity::PUBLIC_IDENTITY_ENCODED_LEN + 5] ^= 1; // ciphertext
    let tampered = Answer::from_bytes(&bytes).expect("still well-formed");
    let rejected = waiting
        .handle_answer(&tampered, NOW, &Default::default())
        .expect_err("tampered answer must fail");
    assert_eq!(rejected.error, HandshakeError::BadSignature);
    // The same state still completes with the genuine answer.
    let genuine = Answer::from_bytes(&genuine).expect("parses");
    rejected
        .state
        .handle_answer(&genuine, NOW, &Default::default())
        .expect("genuine answer still accepted");
}
