//! A complete handshake through the byte encodings gives both sides the
//! same transcript, working keys in both directions, and (once the caller's
//! nonce is revealed) the same SAS.

use crate::common::*;
use proto::handshake::Codec;
use proto::schedule::Role;
use proto::session::{SessionConfig, SessionEvent};
use proto::time::Instant;

#[test]
fn both_sides_agree_and_media_flows_both_ways() {
    let (caller, callee) = handshake();
    assert_eq!(caller.role(), Role::Caller);
    assert_eq!(callee.role(), Role::Callee);
    assert_eq!(caller.transcript_hash(), callee.transcript_hash());
    let sas = caller.sas().expect("the caller knows the SAS at once");
    assert_eq!(callee.sas(), None, "the callee waits for the reveal");
    assert_eq!(caller.peer_username(), "bob");
    assert_eq!(callee.peer_username(), "alice");
    assert_eq!(caller.peer_identity(), bob().public());
    assert_eq!(callee.peer_identity(), alice().public());
    assert_eq!(caller.peer_candidates()[0].addr.port(), 40001);
    assert_eq!(callee.peer_candidates()[0].addr.port(), 40000);
    assert_eq!(caller.profile().codec, Codec::Opus);

    let t0 = Instant::from_micros(1_000);
    let mut a = proto::session::CallSession::new(caller, SessionConfig::default(), t0);
    let mut b = proto::session::CallSession::new(callee, SessionConfig::default(), t0);
    let p = media_packet(&mut a, t0, 1);
    assert_eq!(open_media(&mut b, t0, &p), Ok(1));
    let p = media_packet(&mut b, t0, 2);
    assert_eq!(open_media(&mut a, t0, &p), Ok(2));
    assert_eq!(a.poll_event(), Some(SessionEvent::SasReady(sas)));
    assert_eq!(a.poll_event(), Some(SessionEvent::Connected));
    assert_eq!(b.poll_event(), Some(SessionEvent::Connected));
    assert_eq!(b.sas(), None);
    pump_control(&mut a, &mut b, t0);
    assert_eq!(b.poll_event(), Some(SessionEvent::SasReady(sas)));
    assert_eq!((a.sas(), b.sas()), (Some(sas), Some(sas)));
}

#[test]
fn a_different_ephemeral_seed_gives_different_keys() {
    let (a, b) = (alice(), bob());
    let (_, o1) = proto::handshake::ExpectAnswer::start(
        &a,
        params(),
        b.public().clone(),
        [1; 32],
        [3; 32],
        NOW,
    )
    .expect("start");
    let (_, o2) = proto::handshake::ExpectAnswer::start(
        &a,
        params(),
        b.public().clone(),
        [2; 32],
        [3; 32],
        NOW,
    )
    .expect("start");
    assert_ne!(o1.to_bytes(), o2.to_bytes());
}
