//! An offer or answer whose signed body is too short to hold even its own
//! version and kind bytes is refused as malformed, never a panic.
//!
//! The crafted messages are the ones from issue 18: `01 4F 00 00 …` (or
//! `01 41 …`), exactly one hybrid signature long. The header check reads
//! the first two bytes of the whole message, the signature is the whole
//! message too (version 1, then zeros: a well-formed, if wrong, signature),
//! and the body between them is empty. The tests write the current
//! handshake version rather than a literal 1, so they keep probing the
//! body checks after a version bump. The old parser sliced `body[2..]`
//! and panicked before any signature was checked, so one message through
//! the registry took down the receiving client's push loop.

use proto::handshake::{Answer, HANDSHAKE_VERSION, HandshakeError, Offer};
use proto::identity::HYBRID_SIGNATURE_ENCODED_LEN;

/// `<version> <kind> 00 00 …`, `len` bytes long.
fn crafted(kind: u8, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    if let Some(b) = bytes.get_mut(0) {
        *b = HANDSHAKE_VERSION;
    }
    if let Some(b) = bytes.get_mut(1) {
        *b = kind;
    }
    bytes
}

#[test]
fn offer_that_is_only_a_signature_is_malformed() {
    let bytes = crafted(b'O', HYBRID_SIGNATURE_ENCODED_LEN);
    assert_eq!(bytes.len(), 3374);
    assert_eq!(bytes[..4], [HANDSHAKE_VERSION, 0x4F, 0, 0]);
    assert!(matches!(
        Offer::from_bytes(&bytes),
        Err(HandshakeError::Malformed(_))
    ));
}

#[test]
fn answer_that_is_only_a_signature_is_malformed() {
    let bytes = crafted(b'A', HYBRID_SIGNATURE_ENCODED_LEN);
    assert!(matches!(
        Answer::from_bytes(&bytes),
        Err(HandshakeError::Malformed(_))
    ));
}

#[test]
fn every_length_around_the_signature_is_an_error_not_a_panic() {
    // Bodies of 0..=40 bytes: none holds a whole offer or answer, so every
    // one must be refused, whatever the filler.
    for fill in [0x00, 0x01, 0xFF] {
        for len in 0..=HYBRID_SIGNATURE_ENCODED_LEN + 40 {
            for kind in [b'O', b'A'] {
                let mut bytes = crafted(kind, len);
                for b in bytes.iter_mut().skip(2) {
                    *b = fill;
                }
                // Keep the signature's own version byte valid wherever it
                // lands, so the body checks are what is exercised.
                if let Some(sig_start) = len.checked_sub(HYBRID_SIGNATURE_ENCODED_LEN)
                    && sig_start >= 2
                {
                    bytes[sig_start] = 1;
                }
                assert!(Offer::from_bytes(&bytes).is_err(), "offer, len {len}");
                assert!(Answer::from_bytes(&bytes).is_err(), "answer, len {len}");
            }
        }
    }
}
