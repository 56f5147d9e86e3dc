//! Typed candidates travel inside the signed offer and answer (handshake
//! v3): every kind and address family arrives as it was sent, a kind this
//! build does not know is malformed, a list may not repeat a (kind,
//! address), and a version 2 message is refused by its version byte.

use core::net::SocketAddr;

use crate::common::*;
use proto::handshake::{
    Answer, Candidate, CandidateKind, HANDSHAKE_VERSION, HandshakeError, Offer, OfferParams,
    OfferPolicy,
};

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("literal address")
}

/// One candidate of every kind in each family, local preferences falling.
fn every_kind(port_base: u16) -> Vec<Candidate> {
    let kinds = [
        CandidateKind::Host,
        CandidateKind::ServerReflexive,
        CandidateKind::Relayed,
    ];
    let mut list = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        let port = port_base + i as u16;
        list.push(Candidate::new(kind, addr(&format!("192.0.2.1:{port}")), 2));
        list.push(Candidate::new(
            kind,
            addr(&format!("[2001:db8::1]:{port}")),
            1,
        ));
    }
    list
}

fn offer_with(candidates: Vec<Candidate>) -> Result<Offer, HandshakeError> {
    let (a, b) = (alice(), bob());
    let params = OfferParams {
        candidates,
        ..params()
    };
    proto::handshake::ExpectAnswer::start(&a, params, b.public().clone(), [1; 32], [2; 32], NOW)
        .map(|(_, offer)| offer)
}

#[test]
fn every_kind_and_family_reaches_the_other_side() {
    let (a, b) = (alice(), bob());
    let mine = every_kind(40_000);
    let theirs = every_kind(50_000);
    let (waiting, offer) = proto::handshake::ExpectAnswer::start(
        &a,
        OfferParams {
            candidates: mine.clone(),
            ..params()
        },
        b.public().clone(),
        [1; 32],
        [2; 32],
        NOW,
    )
    .expect("valid offer");
    let offer = Offer::from_bytes(&offer.to_bytes()).expect("parses");
    assert_eq!(offer.candidates(), mine.as_slice());
    let verified = offer
        .verify(a.public(), "bob", NOW, &OfferPolicy::default())
        .expect("verifies");
    let (answer, callee) = verified
        .accept(&b, theirs.clone(), [3; 32], NOW)
        .expect("accept");
    let answer = Answer::from_bytes(&answer.to_bytes()).expect("parses");
    assert_eq!(answer.candidates(), theirs.as_slice());
    let caller = waiting
        .handle_answer(&answer, NOW, &OfferPolicy::default())
        .expect("answer verifies");
    assert_eq!(caller.peer_candidates(), theirs.as_slice());
    assert_eq!(callee.peer_candidates(), mine.as_slice());
}

#[test]
fn an_unknown_kind_in_an_offer_is_malformed() {
    let c = Candidate::new(CandidateKind::Host, addr("192.0.2.9:4242"), 7);
    let bytes = offer_with(vec![c]).expect("valid offer").to_bytes();
    // The count byte (1), then the candidate as encoded: find it in the body.
    let mut needle = vec![1u8, CandidateKind::Host as u8];
    needle.extend_from_slice(&c.priority.to_be_bytes());
    needle.extend_from_slice(&[4, 192, 0, 2, 9]);
    needle.extend_from_slice(&4242u16.to_be_bytes());
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .expect("the candidate is in the offer");
    for kind in [3u8, 4, 0x80, 0xff] {
        let mut forged = bytes.clone();
        forged[at + 1] = kind;
        assert_eq!(
            Offer::from_bytes(&forged).err(),
            Some(HandshakeError::Malformed("unknown candidate kind")),
            "kind {kind}"
        );
    }
}

#[test]
fn a_repeated_kind_and_address_is_refused_by_both_sides() {
    let a = addr("198.51.100.4:6000");
    let host = Candidate::new(CandidateKind::Host, a, 9);
    // The same address under another kind is allowed: it is another path.
    let srflx = Candidate::new(CandidateKind::ServerReflexive, a, 9);
    assert!(offer_with(vec![host, srflx]).is_ok());
    let again = Candidate::new(CandidateKind::Host, a, 8);
    assert_eq!(
        offer_with(vec![host, srflx, again]).err(),
        Some(HandshakeError::Malformed("duplicate candidate"))
    );

    let (a_id, b_id) = (alice(), bob());
    let (_, offer) = offer(&a_id, &b_id);
    let verified = offer
        .verify(a_id.public(), "bob", NOW, &OfferPolicy::default())
        .expect("verifies");
    assert_eq!(
        verified
            .accept(&b_id, vec![host, again], [3; 32], NOW)
            .err(),
        Some(HandshakeError::Malformed("duplicate candidate"))
    );
}

#[test]
fn version_2_offers_and_answers_are_refused_by_version() {
    assert_eq!(HANDSHAKE_VERSION, 3);
    let (a, b) = (alice(), bob());
    let (_, offer) = offer(&a, &b);
    let mut old = offer.to_bytes();
    old[0] = 2;
    assert_eq!(
        Offer::from_bytes(&old).err(),
        Some(HandshakeError::UnsupportedVersion(2))
    );
    let verified = Offer::from_bytes(&offer.to_bytes())
        .expect("parses")
        .verify(a.public(), "bob", NOW, &OfferPolicy::default())
        .expect("verifies");
    let (answer, _) = verified.accept(&b, vec![], [3; 32], NOW).expect("accept");
    let mut old = answer.to_bytes();
    old[0] = 2;
    assert_eq!(
        Answer::from_bytes(&old).err(),
        Some(HandshakeError::UnsupportedVersion(2))
    );
}
