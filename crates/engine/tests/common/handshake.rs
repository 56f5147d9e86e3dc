//! The real proto handshake run in process, for the call tests: both ends
//! of a finished handshake, with the offer and answer each round-tripped
//! through their wire bytes so the parsers are on the path too.
//!
//! Included with `#[path]` by the call tests only, so the registry tests
//! that share `common/mod.rs` do not carry it as dead code.

use std::net::SocketAddr;

use proto::handshake::{
    Answer, Candidate, CandidateKind, Established, ExpectAnswer, HandshakeCallId, MediaProfile,
    Offer, OfferParams, OfferPolicy,
};
use proto::identity::IdentityKeyPair;
use proto::time::UnixTime;

/// The engine's default media profile, as both ends of a real call use it.
pub fn profile() -> MediaProfile {
    MediaProfile {
        packet_len: engine::codec::DEFAULT_PACKET_LEN,
        redundancy: engine::codec::DEFAULT_REDUNDANCY,
        ..MediaProfile::DEFAULT
    }
}

/// What differs between the tests' handshakes. Fixed seeds keep each test
/// reproducible; the tests pick different ones so no two share keys.
pub struct Setup {
    /// Seed byte of alice's (the caller's) identity.
    pub alice_seed: u8,
    /// Seed byte of bob's (the callee's) identity.
    pub bob_seed: u8,
    /// Every byte of the handshake call id.
    pub call_id: u8,
    /// The caller's two random inputs, then the callee's one.
    pub randoms: [u8; 3],
    /// The time both ends see; must be inside the offer's freshness window.
    pub now: UnixTime,
    /// Media addresses the caller offers.
    pub caller_candidates: Vec<SocketAddr>,
    /// Media addresses the callee answers with.
    pub callee_candidates: Vec<SocketAddr>,
}

/// Host candidates for `addrs`, the first one preferred.
fn hosts(addrs: Vec<SocketAddr>) -> Vec<Candidate> {
    (0..=u16::MAX)
        .rev()
        .zip(addrs)
        .map(|(pref, addr)| Candidate::new(CandidateKind::Host, addr, pref))
        .collect()
}

/// Runs alice-calls-bob to completion: `(caller, callee)`.
pub fn handshake(setup: Setup) -> (Established, Established) {
    let caller = hosts(setup.caller_candidates.clone());
    let callee = hosts(setup.callee_candidates.clone());
    handshake_typed(&setup, caller, callee)
}

/// [`handshake`] with typed candidates (as gathered) instead of `setup`'s
/// address lists, which are not used.
pub fn handshake_typed(
    setup: &Setup,
    caller_candidates: Vec<Candidate>,
    callee_candidates: Vec<Candidate>,
) -> (Established, Established) {
    let alice = IdentityKeyPair::from_seed(&[setup.alice_seed; 32]);
    let bob = IdentityKeyPair::from_seed(&[setup.bob_seed; 32]);
    let now = setup.now;
    let params = OfferParams {
        call_id: HandshakeCallId([setup.call_id; 16]),
        caller: "alice".into(),
        callee: "bob".into(),
        candidates: caller_candidates,
        profile: profile(),
    };
    let [r1, r2, r3] = setup.randoms;
    let (waiting, offer) = ExpectAnswer::start(
        &alice,
        params,
        bob.public().clone(),
        [r1; 32],
        [r2; 32],
        now,
    )
    .expect("offer");
    let offer = Offer::from_bytes(&offer.to_bytes()).expect("offer parses");
    let (answer, callee) = offer
        .verify(alice.public(), "bob", now, &OfferPolicy::default())
        .expect("offer verifies")
        .accept(&bob, callee_candidates, [r3; 32], now)
        .expect("accept");
    let answer = Answer::from_bytes(&answer.to_bytes()).expect("answer parses");
    let caller = waiting
        .handle_answer(&answer, now, &OfferPolicy::default())
        .expect("answer verifies");
    (caller, callee)
}
