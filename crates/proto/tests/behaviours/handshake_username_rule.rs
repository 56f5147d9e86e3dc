//! The handshake and the registry accept exactly the same usernames.
//!
//! Names in an offer used to be any 1 to 64 bytes of UTF-8, while the
//! registry only registers 3 to 32 bytes of `a-z 0-9 _ . -`: an offer could
//! name someone who cannot exist ("Alice", "alice ", 64 letters). Both now
//! use `Username::check`. Every candidate name below must get the same
//! verdict from the registry's parser, from `ExpectAnswer::start` (as
//! caller and as callee) and from `Offer::from_bytes` reading it off the
//! wire.

use proto::handshake::{ExpectAnswer, HandshakeError, Offer};
use proto::signaling::Username;

use crate::common::{NOW, alice, bob, params};

/// Names around every edge of the rule: each length from 0 to 70, every
/// ASCII character in an otherwise valid name, non-ASCII letters, and
/// names that are valid only under one of the two old rules.
fn candidates() -> Vec<String> {
    let mut names: Vec<String> = (0..=70).map(|n| "a".repeat(n)).collect();
    for b in 0u8..=127 {
        names.push(format!("ab{}", char::from(b)));
        names.push(format!("{}bc", char::from(b)));
    }
    names.extend(
        [
            "Alice",
            "ALICE",
            "alice ",
            " alice",
            "al ice",
            "alicé",
            "ålice",
            "аlice",
            "a\u{0}b",
            "...",
            "_._",
            "-a-",
            "a.b_c-d",
            "0123",
            "a\u{301}bc",
            "日本語",
        ]
        .map(str::to_owned),
    );
    names.push("z".repeat(32));
    names.push("z".repeat(33));
    names.push("é".repeat(16));
    names
}

/// Whether the handshake lets `name` be the caller and the callee of an
/// offer it builds.
fn start_accepts(name: &str) -> (bool, bool) {
    let (a, b) = (alice(), bob());
    let start = |caller: &str, callee: &str| {
        let mut p = params();
        p.caller = caller.to_owned();
        p.callee = callee.to_owned();
        ExpectAnswer::start(&a, p, b.public().clone(), [1; 32], [2; 32], NOW)
    };
    let as_caller = start(name, "bob").is_ok();
    let as_callee = start("alice", name).is_ok();
    (as_caller, as_callee)
}

/// Whether `Offer::from_bytes` reads an offer whose caller field holds
/// `name` (with its length byte). The signature no longer matches, but
/// parsing checks only the format, names included.
fn parse_accepts(genuine: &[u8], name: &str) -> bool {
    // Header (2), call id (16), then the caller's length byte and bytes.
    const CALLER_AT: usize = 2 + 16;
    let Some(&old_len) = genuine.get(CALLER_AT) else {
        panic!("genuine offer is too short");
    };
    let Ok(len) = u8::try_from(name.len()) else {
        return false;
    };
    let mut bytes = genuine[..CALLER_AT].to_vec();
    bytes.push(len);
    bytes.extend_from_slice(name.as_bytes());
    bytes.extend_from_slice(&genuine[CALLER_AT + 1 + usize::from(old_len)..]);
    match Offer::from_bytes(&bytes) {
        Ok(offer) => {
            assert_eq!(offer.caller(), name);
            true
        }
        Err(HandshakeError::Malformed(_)) => false,
        Err(e) => panic!("{name:?}: unexpected error {e:?}"),
    }
}

#[test]
fn handshake_and_registry_accept_the_same_usernames() {
    let (_, genuine) = crate::common::offer(&alice(), &bob());
    let genuine = genuine.to_bytes();
    let (mut accepted, mut refused) = (0, 0);
    for name in candidates() {
        let registry = Username::parse(&name).is_ok();
        let (as_caller, as_callee) = start_accepts(&name);
        assert_eq!(as_caller, registry, "caller {name:?}");
        assert_eq!(as_callee, registry, "callee {name:?}");
        assert_eq!(parse_accepts(&genuine, &name), registry, "parsed {name:?}");
        if registry {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    // Both verdicts occur, so the comparison means something.
    assert!(accepted > 30 && refused > 200, "{accepted} / {refused}");
}
