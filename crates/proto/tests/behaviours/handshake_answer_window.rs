//! The caller holds the answer to the same freshness window as offers: an
//! answer dated too far back or ahead is refused with its own error, and
//! the caller keeps waiting for a fresh one.

use core::time::Duration;

use crate::common::*;
use proto::handshake::{Answer, HandshakeError, OfferPolicy};
use proto::time::UnixTime;

fn answer_made_at(at: UnixTime) -> (proto::handshake::ExpectAnswer, Answer) {
    let (a, b) = (alice(), bob());
    let (waiting, offer) = offer(&a, &b);
    let verified = offer
        .verify(a.public(), "bob", NOW, &OfferPolicy::default())
        .expect("genuine offer");
    let (answer, _) = verified.accept(&b, vec![], [0x22; 32], at).expect("accept");
    let answer = Answer::from_bytes(&answer.to_bytes()).expect("parses");
    (waiting, answer)
}

#[test]
fn an_old_answer_is_refused() {
    let policy = OfferPolicy::default();
    let (waiting, answer) = answer_made_at(NOW);
    let late = UnixTime::from_secs(NOW.as_secs() + policy.max_age.as_secs() + 1);
    let rejected = waiting
        .handle_answer(&answer, late, &policy)
        .expect_err("stale answer");
    assert_eq!(rejected.error, HandshakeError::AnswerExpired);
    // The caller still waits; in the window, the same answer completes.
    rejected
        .state
        .handle_answer(&answer, NOW, &policy)
        .expect("fresh answer accepted");
}

#[test]
fn an_answer_from_the_future_is_refused() {
    let policy = OfferPolicy::default();
    let ahead = UnixTime::from_secs(NOW.as_secs() + policy.max_clock_skew.as_secs() + 1);
    let (waiting, answer) = answer_made_at(ahead);
    let rejected = waiting
        .handle_answer(&answer, NOW, &policy)
        .expect_err("future answer");
    assert_eq!(rejected.error, HandshakeError::AnswerFromFuture);
}

#[test]
fn the_edges_of_the_window_are_accepted() {
    let policy = OfferPolicy {
        max_age: Duration::from_secs(60),
        max_clock_skew: Duration::from_secs(10),
    };
    let (waiting, answer) = answer_made_at(NOW);
    let edge = UnixTime::from_secs(NOW.as_secs() + 60);
    waiting
        .handle_answer(&answer, edge, &policy)
        .expect("exactly max_age old");
    let (waiting, answer) = answer_made_at(UnixTime::from_secs(NOW.as_secs() + 10));
    waiting
        .handle_answer(&answer, NOW, &policy)
        .expect("exactly max_clock_skew ahead");
}
