//! The call controller (`engine::phone::CallController`) driven by hand,
//! without a registry or a clock: every race between the user, the
//! registry and the media is replayed in a chosen order, and what comes
//! out (registry steps, media jobs, history, snapshots) is checked.

use engine::account::{Direction, HistoryEntry, Outcome};
use engine::call::CallEnd;
use engine::contacts::Trust;
use engine::phone::{
    Action, CallController, CallRef, CallSnapshot, CallState, EndReason, OfferCheck,
    PEER_END_GRACE_MS, PhoneError, PlaceFailure, StatusReport,
};
use proto::signaling::{CallId, CallState as RegistryState, HandshakeBlob, ServerEvent, Username};

const T0: u64 = 1_800_000_000_000;

fn name(n: &str) -> Username {
    Username::parse(n).expect("valid name")
}

fn id(n: u8) -> CallId {
    CallId::from_bytes([n; 16])
}

fn blob(bytes: &[u8]) -> HandshakeBlob {
    HandshakeBlob::new(bytes.to_vec()).expect("small blob")
}

fn drain(c: &mut CallController) -> Vec<Action> {
    std::iter::from_fn(|| c.poll_action()).collect()
}

fn records(actions: &[Action]) -> Vec<HistoryEntry> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Record(h) => Some(h.clone()),
            _ => None,
        })
        .collect()
}

fn snapshots(actions: &[Action]) -> Vec<CallSnapshot> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Snapshot(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn ended(actions: &[Action]) -> (EndReason, Option<String>) {
    let ends: Vec<_> = snapshots(actions)
        .into_iter()
        .filter(|s| s.state == CallState::Ended)
        .collect();
    assert_eq!(ends.len(), 1, "one end snapshot in {actions:?}");
    ends[0].end.clone().expect("an ended call says why")
}

/// Places a call to bob and has the registry take it as `id(1)`.
fn ringing_out(c: &mut CallController) -> CallRef {
    let call = c.place(T0, name("bob")).expect("no call yet");
    assert_eq!(
        drain(c),
        vec![Action::Place {
            call,
            peer: name("bob")
        }]
    );
    c.handle_placed(T0 + 50, call, Ok((id(1), Trust::Unverified)));
    let out = drain(c);
    assert_eq!(snapshots(&out)[0].state, CallState::RingingOut);
    call
}

/// Bob's answer arrives and verifies; the media starts.
fn connected(c: &mut CallController, call: CallRef, at: u64) {
    c.handle_push(
        at,
        ServerEvent::Accepted {
            call_id: id(1),
            answer: blob(b"answer"),
        },
    );
    assert_eq!(
        drain(c),
        vec![Action::CheckAnswer {
            call,
            answer: b"answer".to_vec()
        }]
    );
    c.handle_answer_checked(at, call, Ok("042 917".into()));
    let out = drain(c);
    assert!(out.contains(&Action::StartMedia { call, muted: false }));
}

/// Alice rings us as `id(7)`; the offer checks out.
fn ringing_in(c: &mut CallController) -> CallRef {
    c.handle_push(
        T0,
        ServerEvent::IncomingCall {
            call_id: id(7),
            caller: name("alice"),
            offer: blob(b"offer"),
            created_at: T0 / 1000,
        },
    );
    let out = drain(c);
    let Some(Action::CheckOffer { call, peer, offer }) = out.first().cloned() else {
        panic!("an offer is checked first: {out:?}");
    };
    assert_eq!((peer, offer), (name("alice"), b"offer".to_vec()));
    assert!(snapshots(&out).is_empty(), "nothing shown before the check");
    c.handle_offer_checked(T0 + 10, call, OfferCheck::Genuine(Trust::Unverified));
    assert_eq!(snapshots(&drain(c))[0].state, CallState::RingingIn);
    call
}

#[test]
fn placed_answered_and_hung_up_records_the_talk() {
    let mut c = CallController::new();
    let call = ringing_out(&mut c);
    connected(&mut c, call, T0 + 2_000);
    c.handle_media_progress(T0 + 2_500, call, None, 3);
    let out = drain(&mut c);
    assert_eq!(snapshots(&out)[0].state, CallState::Active);
    assert_eq!(snapshots(&out)[0].sas.as_deref(), Some("042 917"));
    c.hang_up(T0 + 9_000, call).expect("in a call");
    assert_eq!(drain(&mut c), vec![Action::StopMedia { call }]);
    c.handle_media_ended(T0 + 9_100, call, Ok(CallEnd::HungUp));
    let out = drain(&mut c);
    assert!(out.contains(&Action::Hangup { id: id(1) }));
    assert_eq!(ended(&out), (EndReason::HungUp, None));
    assert_eq!(
        records(&out),
        vec![HistoryEntry {
            call_id: id(1).to_string(),
            peer: "bob".into(),
            direction: Direction::Outgoing,
            started_at: T0 / 1000,
            duration_s: 7,
            outcome: Outcome::Completed,
        }]
    );
    assert!(c.current().is_none());
}

#[test]
fn incoming_accepted_goes_active_only_once_the_sas_is_known() {
    let mut c = CallController::new();
    let call = ringing_in(&mut c);
    c.accept(T0 + 1_000, call).expect("ringing");
    let out = drain(&mut c);
    assert!(out.contains(&Action::Accept {
        call,
        id: id(7),
        recheck: false
    }));
    c.handle_accept_sent(T0 + 1_100, call, Ok(Trust::Unverified));
    let out = drain(&mut c);
    assert!(out.contains(&Action::StartMedia { call, muted: false }));
    assert_eq!(snapshots(&out)[0].state, CallState::Connecting);
    // Packets, but the caller's SAS reveal has not come yet.
    c.handle_media_progress(T0 + 1_500, call, None, 10);
    assert!(drain(&mut c).is_empty());
    c.handle_media_progress(T0 + 1_600, call, Some("042 917"), 12);
    let s = snapshots(&drain(&mut c)).pop().expect("shown");
    assert_eq!(s.state, CallState::Active);
    assert_eq!(s.sas.as_deref(), Some("042 917"));
    // The peer hangs up: its bye ends the media, no hang-up step needed
    // from the registry's notice, which comes as well.
    c.handle_push(
        T0 + 5_000,
        ServerEvent::Ended {
            call_id: id(7),
            by: Some(name("alice")),
        },
    );
    assert_eq!(drain(&mut c), vec![Action::StopMedia { call }]);
    c.handle_media_ended(T0 + 5_050, call, Ok(CallEnd::HungUp));
    let out = drain(&mut c);
    assert!(!out.iter().any(|a| matches!(a, Action::Hangup { .. })));
    assert_eq!(ended(&out).0, EndReason::RemoteHungUp);
    assert_eq!(records(&out)[0].outcome, Outcome::Completed);
    assert_eq!(records(&out)[0].direction, Direction::Incoming);
}

#[test]
fn rejected_by_us_and_by_them() {
    let mut c = CallController::new();
    let call = ringing_in(&mut c);
    c.reject(T0 + 100, call).expect("ringing");
    let out = drain(&mut c);
    assert!(out.contains(&Action::Reject { id: id(7) }));
    assert_eq!(ended(&out).0, EndReason::Rejected);
    assert_eq!(records(&out)[0].outcome, Outcome::Rejected);

    let call = ringing_out(&mut c);
    c.handle_push(T0 + 200, ServerEvent::Rejected { call_id: id(1) });
    let out = drain(&mut c);
    assert_eq!(ended(&out).0, EndReason::Rejected);
    assert_eq!(records(&out)[0].outcome, Outcome::Rejected);
    assert_eq!(c.accept(T0, call), Err(PhoneError::NoCall));
}

#[test]
fn busy_pushed_before_initiate_returns_ends_the_call_busy() {
    let mut c = CallController::new();
    let call = c.place(T0, name("bob")).expect("no call yet");
    drain(&mut c);
    // The registry pushes Busy before the initiate answer names the call.
    c.handle_push(
        T0 + 10,
        ServerEvent::Busy {
            call_id: id(1),
            callee: name("bob"),
        },
    );
    assert!(drain(&mut c).is_empty(), "kept until the id is known");
    c.handle_placed(T0 + 20, call, Ok((id(1), Trust::Unverified)));
    let out = drain(&mut c);
    assert_eq!(ended(&out).0, EndReason::Busy);
    assert_eq!(records(&out)[0].outcome, Outcome::Busy);
    assert!(c.current().is_none());
}

#[test]
fn a_reconnect_while_ringing_asks_the_registry_and_catches_a_lost_answer() {
    let mut c = CallController::new();
    let call = ringing_out(&mut c);
    // The socket dropped; the Accepted push went with it.
    c.handle_connected(T0 + 3_000);
    assert_eq!(drain(&mut c), vec![Action::QueryStatus { call, id: id(1) }]);
    c.handle_status(
        T0 + 3_100,
        call,
        StatusReport {
            state: RegistryState::Active,
            answer: Some(b"answer".to_vec()),
        },
    );
    assert_eq!(
        drain(&mut c),
        vec![Action::CheckAnswer {
            call,
            answer: b"answer".to_vec()
        }]
    );
}

#[test]
fn a_reconnect_while_ringing_in_finds_the_caller_gave_up() {
    let mut c = CallController::new();
    let call = ringing_in(&mut c);
    c.handle_connected(T0 + 3_000);
    assert_eq!(drain(&mut c), vec![Action::QueryStatus { call, id: id(7) }]);
    c.handle_status(
        T0 + 3_100,
        call,
        StatusReport {
            state: RegistryState::Cancelled,
            answer: None,
        },
    );
    let out = drain(&mut c);
    assert_eq!(ended(&out).0, EndReason::Missed);
    assert_eq!(records(&out)[0].outcome, Outcome::Missed);
}

#[test]
fn a_reconnect_while_still_ringing_changes_nothing() {
    let mut c = CallController::new();
    let call = ringing_out(&mut c);
    c.handle_connected(T0 + 3_000);
    drain(&mut c);
    c.handle_status(
        T0 + 3_100,
        call,
        StatusReport {
            state: RegistryState::Ringing,
            answer: None,
        },
    );
    assert!(drain(&mut c).is_empty());
    assert_eq!(c.current().map(|s| s.state), Some(CallState::RingingOut));
}

#[test]
fn a_double_hang_up_stops_once_and_records_once() {
    let mut c = CallController::new();
    let call = ringing_out(&mut c);
    connected(&mut c, call, T0 + 1_000);
    c.hang_up(T0 + 2_000, call).expect("in a call");
    c.hang_up(T0 + 2_001, call).expect("still stopping");
    assert_eq!(drain(&mut c), vec![Action::StopMedia { call }]);
    c.handle_media_ended(T0 + 2_100, call, Ok(CallEnd::HungUp));
    let out = drain(&mut c);
    assert_eq!(records(&out).len(), 1);
    assert_eq!(
        out.iter()
            .filter(|a| matches!(a, Action::Hangup { .. }))
            .count(),
        1
    );
    // Once over, a third hang-up is refused and does nothing.
    assert_eq!(c.hang_up(T0 + 2_200, call), Err(PhoneError::NoCall));
    assert!(drain(&mut c).is_empty());
    // A late media end of the same call is ignored too.
    c.handle_media_ended(T0 + 2_300, call, Ok(CallEnd::HungUp));
    assert!(drain(&mut c).is_empty());
}

#[test]
fn cancelled_by_the_caller_is_cancelled_there_and_missed_here() {
    // Caller's side: cancel while it rings; an answer racing the cancel
    // changes nothing.
    let mut c = CallController::new();
    let call = ringing_out(&mut c);
    c.hang_up(T0 + 500, call).expect("ringing");
    let out = drain(&mut c);
    assert!(out.contains(&Action::Hangup { id: id(1) }));
    assert_eq!(ended(&out).0, EndReason::Cancelled);
    assert_eq!(records(&out)[0].outcome, Outcome::Cancelled);
    c.handle_push(
        T0 + 510,
        ServerEvent::Accepted {
            call_id: id(1),
            answer: blob(b"answer"),
        },
    );
    assert!(drain(&mut c).is_empty());

    // Callee's side: accept sent, then the caller's cancel arrives before
    // the registry's answer to our accept.
    let mut c = CallController::new();
    let call = ringing_in(&mut c);
    c.accept(T0 + 500, call).expect("ringing");
    drain(&mut c);
    c.handle_push(T0 + 505, ServerEvent::Cancelled { call_id: id(7) });
    let out = drain(&mut c);
    assert_eq!(ended(&out).0, EndReason::Missed);
    assert_eq!(records(&out)[0].outcome, Outcome::Missed);
    assert!(out.contains(&Action::Release { call }));
    c.handle_accept_sent(T0 + 520, call, Ok(Trust::Unverified));
    assert!(drain(&mut c).is_empty(), "no media for a cancelled call");
}

#[test]
fn hang_up_while_placing_cancels_once_the_call_is_named() {
    let mut c = CallController::new();
    let call = c.place(T0, name("bob")).expect("no call yet");
    drain(&mut c);
    c.hang_up(T0 + 5, call).expect("placing");
    assert!(drain(&mut c).is_empty());
    c.handle_placed(T0 + 20, call, Ok((id(1), Trust::Unverified)));
    let out = drain(&mut c);
    assert!(out.contains(&Action::Hangup { id: id(1) }));
    assert_eq!(ended(&out).0, EndReason::Cancelled);
}

#[test]
fn a_call_nobody_answers_is_missed_on_both_sides() {
    let mut c = CallController::new();
    ringing_out(&mut c);
    c.handle_push(
        T0 + 60_000,
        ServerEvent::Missed {
            call_id: id(1),
            caller: name("alice"),
            callee: name("bob"),
        },
    );
    let out = drain(&mut c);
    assert_eq!(ended(&out).0, EndReason::Missed);
    assert_eq!(records(&out)[0].outcome, Outcome::Missed);

    let mut c = CallController::new();
    ringing_in(&mut c);
    c.handle_push(
        T0 + 60_000,
        ServerEvent::Missed {
            call_id: id(7),
            caller: name("alice"),
            callee: name("bob"),
        },
    );
    let out = drain(&mut c);
    assert_eq!(ended(&out).0, EndReason::Missed);
    assert_eq!(records(&out)[0].direction, Direction::Incoming);
}

#[test]
fn an_offer_that_does_not_verify_is_refused_unseen_and_recorded_failed() {
    let mut c = CallController::new();
    c.handle_push(
        T0,
        ServerEvent::IncomingCall {
            call_id: id(7),
            caller: name("mallory"),
            offer: blob(b"forged"),
            created_at: T0 / 1000,
        },
    );
    let Some(Action::CheckOffer { call, .. }) = drain(&mut c).first().cloned() else {
        panic!("the offer is checked");
    };
    c.handle_offer_checked(
        T0 + 10,
        call,
        OfferCheck::Refused("the call from mallory did not verify".into()),
    );
    let out = drain(&mut c);
    assert!(out.contains(&Action::Reject { id: id(7) }));
    assert!(out.contains(&Action::Refused {
        peer: name("mallory"),
        reason: "the call from mallory did not verify".into()
    }));
    assert!(snapshots(&out).is_empty(), "never shown to the user");
    assert_eq!(records(&out)[0].outcome, Outcome::Failed);
    assert_eq!(
        c.last_ended().and_then(|s| s.end.clone()).map(|e| e.0),
        Some(EndReason::Failed)
    );
}

#[test]
fn a_changed_key_rings_flagged_and_is_checked_again_on_answer() {
    let mut c = CallController::new();
    c.handle_push(
        T0,
        ServerEvent::IncomingCall {
            call_id: id(7),
            caller: name("alice"),
            offer: blob(b"offer"),
            created_at: T0 / 1000,
        },
    );
    let Some(Action::CheckOffer { call, .. }) = drain(&mut c).first().cloned() else {
        panic!("the offer is checked");
    };
    c.handle_offer_checked(T0 + 10, call, OfferCheck::KeyChanged);
    let s = snapshots(&drain(&mut c)).pop().expect("rings");
    assert_eq!(
        (s.state, s.trust),
        (CallState::RingingIn, Trust::KeyChanged)
    );
    c.accept(T0 + 20, call).expect("ringing");
    assert!(drain(&mut c).contains(&Action::Accept {
        call,
        id: id(7),
        recheck: true
    }));
    // The key is still not accepted: the recheck fails the call.
    c.handle_accept_sent(T0 + 30, call, Err("alice's key changed".into()));
    let out = drain(&mut c);
    assert_eq!(
        ended(&out),
        (EndReason::Failed, Some("alice's key changed".into()))
    );
    assert!(out.contains(&Action::Reject { id: id(7) }));

    // A front end that cannot ask the user refuses it: failed, not
    // rejected, with the reason.
    let mut c = CallController::new();
    c.handle_push(
        T0,
        ServerEvent::IncomingCall {
            call_id: id(8),
            caller: name("alice"),
            offer: blob(b"offer"),
            created_at: T0 / 1000,
        },
    );
    let Some(Action::CheckOffer { call, .. }) = drain(&mut c).first().cloned() else {
        panic!("the offer is checked");
    };
    c.handle_offer_checked(T0 + 10, call, OfferCheck::KeyChanged);
    drain(&mut c);
    c.refuse(T0 + 20, call, "alice's key changed".into())
        .expect("ringing");
    let out = drain(&mut c);
    assert!(out.contains(&Action::Reject { id: id(8) }));
    assert_eq!(records(&out)[0].outcome, Outcome::Failed);
}

#[test]
fn a_second_incoming_call_is_refused_busy_and_remembered() {
    let mut c = CallController::new();
    let call = ringing_out(&mut c);
    c.handle_push(
        T0 + 100,
        ServerEvent::IncomingCall {
            call_id: id(9),
            caller: name("carol"),
            offer: blob(b"offer"),
            created_at: T0 / 1000,
        },
    );
    let out = drain(&mut c);
    assert!(out.contains(&Action::Reject { id: id(9) }));
    assert_eq!(records(&out)[0].outcome, Outcome::Busy);
    assert_eq!(c.current().map(|s| s.call), Some(call));
    assert_eq!(c.place(T0, name("carol")), Err(PhoneError::Busy));
}

#[test]
fn an_offline_callee_rings_then_ends_offline_and_a_changed_key_never_rings() {
    let mut c = CallController::new();
    let call = c.place(T0, name("bob")).expect("no call yet");
    drain(&mut c);
    c.handle_placed(T0 + 5, call, Err(PlaceFailure::Offline));
    let out = drain(&mut c);
    let states: Vec<_> = snapshots(&out).iter().map(|s| s.state).collect();
    assert_eq!(states, vec![CallState::RingingOut, CallState::Ended]);
    assert_eq!(ended(&out).0, EndReason::Offline);
    assert_eq!(records(&out)[0].outcome, Outcome::Missed);

    let call = c.place(T0, name("bob")).expect("no call yet");
    drain(&mut c);
    c.handle_placed(T0 + 5, call, Err(PlaceFailure::KeyChanged));
    let out = drain(&mut c);
    assert!(snapshots(&out).is_empty());
    assert_eq!(records(&out)[0].outcome, Outcome::Failed);
    assert_eq!(c.last_ended().map(|s| s.trust), Some(Trust::KeyChanged));
}

#[test]
fn an_answer_that_does_not_verify_hangs_up_and_fails() {
    let mut c = CallController::new();
    let call = ringing_out(&mut c);
    c.handle_push(
        T0 + 100,
        ServerEvent::Accepted {
            call_id: id(1),
            answer: blob(b"forged"),
        },
    );
    drain(&mut c);
    c.handle_answer_checked(T0 + 110, call, Err(()));
    let out = drain(&mut c);
    assert!(out.contains(&Action::Hangup { id: id(1) }));
    assert_eq!(ended(&out).0, EndReason::Failed);
    assert_eq!(records(&out)[0].outcome, Outcome::Failed);
}

#[test]
fn a_failure_after_a_panic_ends_that_call_and_tells_the_registry() {
    let mut c = CallController::new();
    let call = ringing_in(&mut c);
    c.fail(T0 + 10, call, "internal error".into());
    let out = drain(&mut c);
    assert!(out.contains(&Action::Reject { id: id(7) }));
    assert_eq!(ended(&out).0, EndReason::Failed);
    // The phone takes the next call; a failure while answering it both
    // declines it and hangs it up, whichever the registry still allows.
    let call = ringing_in(&mut c);
    c.accept(T0 + 20, call).expect("ringing");
    drain(&mut c);
    c.fail(T0 + 30, call, "internal error".into());
    let out = drain(&mut c);
    assert!(out.contains(&Action::Reject { id: id(7) }));
    assert!(out.contains(&Action::Hangup { id: id(7) }));
    assert_eq!(ended(&out).0, EndReason::Failed);
}

#[test]
fn media_failures_end_the_call_failed() {
    for (end, reason) in [
        (Ok(CallEnd::TimedOut), EndReason::ConnectionLost),
        (Ok(CallEnd::DeviceLost), EndReason::Failed),
        (Ok(CallEnd::SasMismatch), EndReason::Failed),
        (Err("no sound device".to_owned()), EndReason::Failed),
    ] {
        let mut c = CallController::new();
        let call = ringing_out(&mut c);
        connected(&mut c, call, T0 + 1_000);
        c.handle_media_ended(T0 + 2_000, call, end);
        let out = drain(&mut c);
        assert_eq!(ended(&out).0, reason);
        assert_eq!(records(&out)[0].outcome, Outcome::Failed);
        assert!(out.contains(&Action::Hangup { id: id(1) }));
    }
}

#[test]
fn a_call_that_finds_no_path_says_whom_it_could_not_reach_and_why() {
    // (gathered with a relay?, what the user reads)
    for (relay, message) in [
        (
            Some(false),
            "could not reach bob: no network path (the registry has no relay configured)",
        ),
        (Some(true), "could not reach bob: no network path"),
        // Not known (a call whose gathering was never reported): no guess.
        (None, "could not reach bob: no network path"),
    ] {
        let mut c = CallController::new();
        let call = ringing_out(&mut c);
        if let Some(relay) = relay {
            c.handle_gathered(T0 + 60, call, relay);
        }
        connected(&mut c, call, T0 + 1_000);
        c.handle_media_ended(T0 + 11_000, call, Ok(CallEnd::NoPath));
        let out = drain(&mut c);
        assert_eq!(
            ended(&out),
            (EndReason::NoPath, Some(message.to_owned())),
            "relay {relay:?}"
        );
        assert_eq!(records(&out)[0].outcome, Outcome::Failed);
        assert!(out.contains(&Action::Hangup { id: id(1) }));
    }
}

#[test]
fn the_callee_of_a_call_without_a_path_hears_the_same() {
    let mut c = CallController::new();
    let call = ringing_in(&mut c);
    c.accept(T0 + 1, call).expect("ringing");
    drain(&mut c);
    c.handle_gathered(T0 + 2, call, false);
    c.handle_accept_sent(T0 + 3, call, Ok(Trust::Unverified));
    drain(&mut c);
    c.handle_media_ended(T0 + 10_000, call, Ok(CallEnd::NoPath));
    assert_eq!(
        ended(&drain(&mut c)),
        (
            EndReason::NoPath,
            Some(
                "could not reach alice: no network path (the registry has no relay configured)"
                    .to_owned()
            )
        )
    );
}

#[test]
fn mute_chosen_while_ringing_carries_into_the_media() {
    let mut c = CallController::new();
    let call = ringing_in(&mut c);
    c.set_muted(T0 + 1, call, true).expect("ringing");
    drain(&mut c);
    c.accept(T0 + 2, call).expect("ringing");
    drain(&mut c);
    c.handle_accept_sent(T0 + 3, call, Ok(Trust::Verified));
    let out = drain(&mut c);
    assert!(out.contains(&Action::StartMedia { call, muted: true }));
    assert_eq!(snapshots(&out)[0].trust, Trust::Verified);
    c.set_muted(T0 + 4, call, false).expect("in a call");
    assert!(drain(&mut c).contains(&Action::SetMute { call, muted: false }));
}

#[test]
fn a_local_call_goes_straight_to_its_media_and_tells_no_registry() {
    let mut c = CallController::new();
    let call = c
        .start_local(T0, name("echo"), "echo-1".into(), Some("042 917".into()))
        .expect("no call yet");
    let out = drain(&mut c);
    assert!(out.contains(&Action::StartMedia { call, muted: false }));
    assert_eq!(snapshots(&out)[0].state, CallState::Connecting);
    // An incoming call meanwhile is busy here.
    c.handle_push(
        T0 + 1,
        ServerEvent::IncomingCall {
            call_id: id(9),
            caller: name("carol"),
            offer: blob(b"offer"),
            created_at: T0 / 1000,
        },
    );
    assert!(drain(&mut c).contains(&Action::Reject { id: id(9) }));
    c.hang_up(T0 + 3_000, call).expect("in a call");
    drain(&mut c);
    c.handle_media_ended(T0 + 3_100, call, Ok(CallEnd::HungUp));
    let out = drain(&mut c);
    assert!(
        !out.iter()
            .any(|a| matches!(a, Action::Hangup { .. } | Action::Reject { .. }))
    );
    assert_eq!(records(&out)[0].call_id, "echo-1");
    assert_eq!(ended(&out).0, EndReason::HungUp);
}

/// The race seen with the app calling an echo bot: we hang up, our media
/// sends its bye and winds down; the bot, on our bye, hangs up at the
/// registry, whose "ended" push reaches us before our media's end. The
/// call is still ours to have ended, on the screen and in the history.
#[test]
fn our_hang_up_stays_ours_when_the_registry_ends_the_call_before_our_media_stops() {
    let mut c = CallController::new();
    let call = ringing_out(&mut c);
    connected(&mut c, call, T0 + 1_000);
    c.handle_media_progress(T0 + 1_200, call, None, 5);
    drain(&mut c);
    c.hang_up(T0 + 4_000, call).expect("in a call");
    assert_eq!(drain(&mut c), vec![Action::StopMedia { call }]);
    c.handle_push(
        T0 + 4_030,
        ServerEvent::Ended {
            call_id: id(1),
            by: Some(name("bob")),
        },
    );
    // Already stopping: nothing more to do, nothing to show yet.
    assert!(drain(&mut c).is_empty());
    c.handle_media_ended(T0 + 4_080, call, Ok(CallEnd::HungUp));
    let out = drain(&mut c);
    assert_eq!(ended(&out), (EndReason::HungUp, None));
    assert_eq!(records(&out)[0].outcome, Outcome::Completed);
    // The registry closed the call already: no hang-up step.
    assert!(!out.iter().any(|a| matches!(a, Action::Hangup { .. })));
    assert_eq!(
        c.last_ended().and_then(|s| s.end.clone()),
        Some((EndReason::HungUp, None))
    );
}

/// Same race on the callee's side, and with the media reporting the
/// peer's bye (it crossed ours) instead of our own hang-up.
#[test]
fn our_hang_up_stays_ours_when_the_peers_bye_crosses_it() {
    for push_first in [false, true] {
        let mut c = CallController::new();
        let call = ringing_in(&mut c);
        c.accept(T0 + 1_000, call).expect("ringing");
        c.handle_accept_sent(T0 + 1_100, call, Ok(Trust::Unverified));
        c.handle_media_progress(T0 + 1_600, call, Some("042 917"), 12);
        drain(&mut c);
        c.hang_up(T0 + 3_000, call).expect("in a call");
        assert_eq!(drain(&mut c), vec![Action::StopMedia { call }]);
        if push_first {
            c.handle_push(
                T0 + 3_010,
                ServerEvent::Ended {
                    call_id: id(7),
                    by: Some(name("alice")),
                },
            );
            assert!(drain(&mut c).is_empty());
        }
        c.handle_media_ended(T0 + 3_050, call, Ok(CallEnd::PeerHungUp));
        let out = drain(&mut c);
        assert_eq!(
            ended(&out),
            (EndReason::HungUp, None),
            "push first: {push_first}"
        );
        assert_eq!(records(&out)[0].outcome, Outcome::Completed);
        // Told the registry only when it had not told us.
        assert_eq!(
            out.contains(&Action::Hangup { id: id(7) }),
            !push_first,
            "push first: {push_first}"
        );
    }
}

/// The other order: the peer hung up first (the registry's notice came
/// before our hang-up). A hang-up pressed after it changes nothing, and
/// the end is the peer's even though our media stopped on our request.
#[test]
fn the_peers_hang_up_stays_theirs_when_we_press_hang_up_after_it() {
    let mut c = CallController::new();
    let call = ringing_out(&mut c);
    connected(&mut c, call, T0 + 1_000);
    c.handle_media_progress(T0 + 1_200, call, None, 5);
    drain(&mut c);
    c.handle_push(
        T0 + 4_000,
        ServerEvent::Ended {
            call_id: id(1),
            by: Some(name("bob")),
        },
    );
    assert_eq!(drain(&mut c), vec![Action::StopMedia { call }]);
    c.hang_up(T0 + 4_010, call).expect("still stopping");
    assert!(drain(&mut c).is_empty());
    c.handle_media_ended(T0 + 4_050, call, Ok(CallEnd::HungUp));
    let out = drain(&mut c);
    assert_eq!(ended(&out), (EndReason::RemoteHungUp, None));
    assert!(!out.iter().any(|a| matches!(a, Action::Hangup { .. })));
}

/// Once the user hung up, the media's later end (whatever it found while
/// it shut down) does not rewrite the reason; a failed safety check is
/// the one exception, as the user must learn the call was not private.
#[test]
fn after_our_hang_up_only_a_failed_safety_check_changes_the_end() {
    for (end, reason) in [
        (Ok(CallEnd::HungUp), EndReason::HungUp),
        (Ok(CallEnd::PeerHungUp), EndReason::HungUp),
        (Ok(CallEnd::TimedOut), EndReason::HungUp),
        (Ok(CallEnd::NoPath), EndReason::HungUp),
        (Ok(CallEnd::DeviceLost), EndReason::HungUp),
        (Err("the audio thread failed".to_owned()), EndReason::HungUp),
        (Ok(CallEnd::SasMismatch), EndReason::Failed),
    ] {
        let mut c = CallController::new();
        let call = ringing_out(&mut c);
        connected(&mut c, call, T0 + 1_000);
        c.hang_up(T0 + 2_000, call).expect("in a call");
        drain(&mut c);
        c.handle_media_ended(T0 + 2_050, call, end.clone());
        let out = drain(&mut c);
        assert_eq!(ended(&out).0, reason, "{end:?}");
        assert!(out.contains(&Action::Hangup { id: id(1) }), "{end:?}");
    }
}

/// Hung up while our answer was on its way, then the registry ended the
/// call (the caller hung up or gave up meanwhile): still our hang-up.
#[test]
fn hung_up_while_answering_stays_ours_when_the_registry_ends_the_call() {
    for ev in [
        ServerEvent::Ended {
            call_id: id(7),
            by: Some(name("alice")),
        },
        ServerEvent::Cancelled { call_id: id(7) },
    ] {
        let mut c = CallController::new();
        let call = ringing_in(&mut c);
        c.accept(T0 + 1_000, call).expect("ringing");
        c.hang_up(T0 + 1_050, call).expect("answering");
        drain(&mut c);
        c.handle_push(T0 + 1_080, ev.clone());
        let out = drain(&mut c);
        assert_eq!(ended(&out), (EndReason::HungUp, None), "{ev:?}");
        assert!(!out.iter().any(|a| matches!(a, Action::Hangup { .. })));
        assert!(out.contains(&Action::Release { call }));
        // The answer's late result is dropped.
        c.handle_accept_sent(T0 + 1_200, call, Ok(Trust::Unverified));
        assert!(drain(&mut c).is_empty());
    }
    // The caller's side: hung up while the answer was verified, then the
    // callee hung up at the registry.
    let mut c = CallController::new();
    let call = ringing_out(&mut c);
    c.handle_push(
        T0 + 1_000,
        ServerEvent::Accepted {
            call_id: id(1),
            answer: blob(b"answer"),
        },
    );
    c.hang_up(T0 + 1_010, call).expect("answering");
    drain(&mut c);
    c.handle_push(
        T0 + 1_020,
        ServerEvent::Ended {
            call_id: id(1),
            by: Some(name("bob")),
        },
    );
    assert_eq!(ended(&drain(&mut c)), (EndReason::HungUp, None));
}

// ----- the registry's end of a call whose media never found a path -----
//
// Both sides' pair checkers give up after the same 10 s, but their media
// rarely start at the same moment: the side that started first gives up
// first, hangs up at the registry, and the registry's "ended" push reaches
// the other side while its own checker is still trying. That notice is not
// the peer hanging up; the call had no path, and this side's checker is
// about to say so.

/// A call of `outgoing` direction whose media runs but has heard nothing
/// from the peer (no pair answered yet), gathered without a relay. Returns
/// the call, its registry id and the peer's name.
fn media_without_path(c: &mut CallController, outgoing: bool) -> (CallRef, CallId, Username) {
    if outgoing {
        let call = ringing_out(c);
        c.handle_gathered(T0 + 60, call, false);
        connected(c, call, T0 + 1_000);
        // The caller knows the SAS at once; no packet has come in.
        c.handle_media_progress(T0 + 1_000, call, Some("042 917"), 0);
        c.handle_media_progress(T0 + 2_000, call, Some("042 917"), 0);
        drain(c);
        (call, id(1), name("bob"))
    } else {
        let call = ringing_in(c);
        c.accept(T0 + 900, call).expect("ringing");
        c.handle_gathered(T0 + 950, call, false);
        c.handle_accept_sent(T0 + 1_000, call, Ok(Trust::Unverified));
        c.handle_media_progress(T0 + 2_000, call, None, 0);
        drain(c);
        (call, id(7), name("alice"))
    }
}

fn no_relay_message(peer: &Username) -> String {
    format!("could not reach {peer}: no network path (the registry has no relay configured)")
}

/// The peer's checker gave up first and its phone hung up at the registry;
/// ours ends with no path within the grace: the user reads "no network
/// path", not "the other side hung up" (scripts/e2e/nat-9-no-path.sh with
/// a slowed caller).
#[test]
fn the_registrys_end_before_our_own_no_path_ends_the_call_as_no_path() {
    for outgoing in [true, false] {
        let mut c = CallController::new();
        let (call, call_id, peer) = media_without_path(&mut c, outgoing);
        c.handle_push(
            T0 + 10_600,
            ServerEvent::Ended {
                call_id,
                by: Some(peer.clone()),
            },
        );
        // Our media keeps looking for a path; nothing is shown yet.
        assert!(drain(&mut c).is_empty(), "outgoing {outgoing}");
        assert!(c.current().is_some_and(|s| s.state != CallState::Ended));
        c.handle_media_ended(T0 + 11_000, call, Ok(CallEnd::NoPath));
        let out = drain(&mut c);
        assert_eq!(
            ended(&out),
            (EndReason::NoPath, Some(no_relay_message(&peer))),
            "outgoing {outgoing}"
        );
        assert_eq!(records(&out)[0].outcome, Outcome::Failed);
        // The registry ended the call already: no hang-up step.
        assert!(!out.iter().any(|a| matches!(a, Action::Hangup { .. })));
    }
}

/// Once the media carried packets, the registry's notice is the peer
/// hanging up and stops the media at once, as it always did.
#[test]
fn the_registrys_end_after_the_media_connected_stops_it_at_once_as_the_peers() {
    for outgoing in [true, false] {
        let mut c = CallController::new();
        let (call, call_id, peer) = media_without_path(&mut c, outgoing);
        c.handle_media_progress(T0 + 3_000, call, Some("042 917"), 40);
        drain(&mut c);
        c.handle_push(
            T0 + 5_000,
            ServerEvent::Ended {
                call_id,
                by: Some(peer),
            },
        );
        assert_eq!(drain(&mut c), vec![Action::StopMedia { call }]);
        c.handle_media_ended(T0 + 5_040, call, Ok(CallEnd::HungUp));
        let out = drain(&mut c);
        assert_eq!(ended(&out), (EndReason::RemoteHungUp, None));
        assert_eq!(records(&out)[0].outcome, Outcome::Completed);
        assert!(!out.iter().any(|a| matches!(a, Action::Hangup { .. })));
    }
}

/// The peer really hung up before any path was found: our media is still
/// looking when the grace runs out, and the call ends as the peer's
/// hang-up. The timer the driver honours is the controller's own.
#[test]
fn the_registrys_end_is_the_peers_once_the_grace_runs_out_without_a_path() {
    for outgoing in [true, false] {
        let mut c = CallController::new();
        let (call, call_id, peer) = media_without_path(&mut c, outgoing);
        assert_eq!(c.poll_timeout(), None, "no timer before the notice");
        c.handle_push(
            T0 + 4_000,
            ServerEvent::Ended {
                call_id,
                by: Some(peer),
            },
        );
        assert!(drain(&mut c).is_empty(), "outgoing {outgoing}");
        let due = c.poll_timeout().expect("a deadline for our media");
        assert!(due > T0 + 4_000 && due <= T0 + 4_000 + PEER_END_GRACE_MS);
        // Early wake-ups and media reports with nothing heard change nothing.
        c.handle_timeout(due - 1);
        c.handle_media_progress(due - 1, call, None, 0);
        assert!(drain(&mut c).is_empty());
        c.handle_timeout(due);
        assert_eq!(drain(&mut c), vec![Action::StopMedia { call }]);
        assert_eq!(c.poll_timeout(), None, "the timer is spent");
        // Stopping, our media ends as we asked it to.
        c.handle_media_ended(due + 40, call, Ok(CallEnd::HungUp));
        let out = drain(&mut c);
        assert_eq!(ended(&out), (EndReason::RemoteHungUp, None));
        assert_eq!(records(&out)[0].outcome, Outcome::Completed);
        assert!(!out.iter().any(|a| matches!(a, Action::Hangup { .. })));
    }
}

/// While the registry's end waits for our media, a first packet from the
/// peer shows a path works: the notice was the peer hanging up, and the
/// media stops then, without waiting out the grace.
#[test]
fn a_first_packet_during_the_grace_makes_the_registrys_end_the_peers_at_once() {
    let mut c = CallController::new();
    let (call, call_id, peer) = media_without_path(&mut c, true);
    c.handle_push(
        T0 + 2_100,
        ServerEvent::Ended {
            call_id,
            by: Some(peer),
        },
    );
    assert!(drain(&mut c).is_empty());
    c.handle_media_progress(T0 + 2_500, call, Some("042 917"), 3);
    assert!(drain(&mut c).contains(&Action::StopMedia { call }));
    assert_eq!(c.poll_timeout(), None);
    c.handle_media_ended(T0 + 2_550, call, Ok(CallEnd::PeerHungUp));
    assert_eq!(ended(&drain(&mut c)), (EndReason::RemoteHungUp, None));
}

/// First ending wins also during the grace: nothing of the registry's
/// notice was shown, so a hang-up pressed then is the user's, once; the
/// registry needs no hang-up step, and the timer is gone.
#[test]
fn our_hang_up_during_the_grace_stays_ours() {
    let mut c = CallController::new();
    let (call, call_id, peer) = media_without_path(&mut c, false);
    c.handle_push(
        T0 + 3_000,
        ServerEvent::Ended {
            call_id,
            by: Some(peer),
        },
    );
    assert!(drain(&mut c).is_empty());
    c.hang_up(T0 + 3_500, call).expect("in a call");
    assert_eq!(drain(&mut c), vec![Action::StopMedia { call }]);
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(T0 + 3_000 + PEER_END_GRACE_MS);
    assert!(drain(&mut c).is_empty());
    c.handle_media_ended(T0 + 3_550, call, Ok(CallEnd::NoPath));
    let out = drain(&mut c);
    assert_eq!(ended(&out), (EndReason::HungUp, None));
    assert!(!out.iter().any(|a| matches!(a, Action::Hangup { .. })));
}
