//! Call steps sent on the push socket instead of over HTTP: the same state
//! machine, the same pushes to the other party, the same refusals, each
//! answered on the sender's socket with the request's number.

mod common;

use common::*;
use proto::signaling::{CallState, ErrorCode, ServerEvent};
use serde_json::json;

/// Sends one call step and returns the answer to it, checking that the
/// number came back unchanged.
async fn step(ws: &mut Socket, req: u64, msg: serde_json::Value) -> ServerEvent {
    ws.send_text(&msg.to_string()).await;
    let ev = ws.next_event().await;
    match &ev {
        ServerEvent::CallReply { req: r, .. } | ServerEvent::CallRefused { req: r, .. } => {
            assert_eq!(*r, req, "answer carries the request's number")
        }
        other => panic!("expected the answer to request {req}, got {other:?}"),
    }
    ev
}

fn refused_code(ev: &ServerEvent) -> ErrorCode {
    match ev {
        ServerEvent::CallRefused { error, .. } => error.code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn ring_accept_hangup_entirely_on_the_sockets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(config(&dir.path().join("reg.sqlite3"))).await;
    let (_alice, mut a_ws) = online(&server, "alice", 1).await;
    let (bob, mut b_ws) = online(&server, "bob", 2).await;

    let offer = vec![0x3c; 7000];
    let ev = step(
        &mut a_ws,
        7,
        json!({"type": "initiate", "req": 7, "callee": "bob", "offer": b64(&offer)}),
    )
    .await;
    let ServerEvent::CallReply { status, .. } = ev else {
        unreachable!()
    };
    assert_eq!(status.state, CallState::Ringing);
    assert_eq!(status.caller.as_str(), "alice");
    let id = status.call_id.as_str().to_owned();

    match b_ws.next_event().await {
        ServerEvent::IncomingCall {
            call_id,
            offer: got,
            ..
        } => {
            assert_eq!(call_id.as_str(), id);
            assert_eq!(got.to_bytes(), offer, "offer relayed unchanged");
        }
        other => panic!("expected incoming call, got {other:?}"),
    }

    let answer = vec![0xc3; 4500];
    let ev = step(
        &mut b_ws,
        1,
        json!({"type": "accept", "req": 1, "call_id": id, "answer": b64(&answer)}),
    )
    .await;
    assert!(
        matches!(&ev, ServerEvent::CallReply { status, .. } if status.state == CallState::Active),
        "{ev:?}"
    );
    match a_ws.next_event().await {
        ServerEvent::Accepted {
            call_id,
            answer: got,
        } => {
            assert_eq!(call_id.as_str(), id);
            assert_eq!(got.to_bytes(), answer, "answer relayed unchanged");
        }
        other => panic!("expected accepted, got {other:?}"),
    }

    // HTTP and socket steps act on one state: the HTTP status agrees.
    let (s, v) = bob.get(&format!("/call/status/{id}")).await;
    assert_eq!((s, v["state"].as_str()), (200, Some("active")));

    let ev = step(
        &mut a_ws,
        8,
        json!({"type": "hangup", "req": 8, "call_id": id}),
    )
    .await;
    assert!(
        matches!(&ev, ServerEvent::CallReply { status, .. } if status.state == CallState::Ended),
        "{ev:?}"
    );
    match b_ws.next_event().await {
        ServerEvent::Ended { call_id, by } => {
            assert_eq!(call_id.as_str(), id);
            assert_eq!(by.as_ref().map(|u| u.as_str()), Some("alice"));
        }
        other => panic!("expected ended, got {other:?}"),
    }
}

#[tokio::test]
async fn refused_steps_name_the_reason_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(config(&dir.path().join("reg.sqlite3"))).await;
    let (_alice, mut a_ws) = online(&server, "alice", 1).await;
    let (_bob, mut b_ws) = online(&server, "bob", 2).await;
    let (_carol, mut c_ws) = online(&server, "carol", 3).await;
    let dave = User::new(&server, "dave", 4);
    dave.register().await;

    // Nobody by that name; registered but offline; oneself.
    for (req, callee, code) in [
        (1, "nobody", ErrorCode::UnknownUser),
        (2, "dave", ErrorCode::CalleeOffline),
        (3, "alice", ErrorCode::SelfCall),
    ] {
        let ev = step(
            &mut a_ws,
            req,
            json!({"type": "initiate", "req": req, "callee": callee, "offer": b64(b"o")}),
        )
        .await;
        assert_eq!(refused_code(&ev), code, "calling {callee}");
    }

    let ev = step(
        &mut a_ws,
        4,
        json!({"type": "initiate", "req": 4, "callee": "bob", "offer": b64(b"offer")}),
    )
    .await;
    let ServerEvent::CallReply { status, .. } = ev else {
        panic!("{ev:?}")
    };
    let id = status.call_id.as_str().to_owned();
    assert!(matches!(
        b_ws.next_event().await,
        ServerEvent::IncomingCall { .. }
    ));

    // Carol cannot accept, reject or end a call between alice and bob, and
    // alice cannot accept her own call.
    for (by_alice, req, msg) in [
        (
            false,
            10,
            json!({"type": "accept", "req": 10, "call_id": id, "answer": b64(b"a")}),
        ),
        (
            false,
            11,
            json!({"type": "reject", "req": 11, "call_id": id}),
        ),
        (
            false,
            12,
            json!({"type": "hangup", "req": 12, "call_id": id}),
        ),
        (
            true,
            13,
            json!({"type": "accept", "req": 13, "call_id": id, "answer": b64(b"a")}),
        ),
    ] {
        let ws = if by_alice { &mut a_ws } else { &mut c_ws };
        let ev = step(ws, req, msg).await;
        assert_eq!(refused_code(&ev), ErrorCode::NotAParty, "request {req}");
    }
    // An unknown call.
    let ev = step(
        &mut b_ws,
        14,
        json!({"type": "reject", "req": 14, "call_id": "0".repeat(32)}),
    )
    .await;
    assert_eq!(refused_code(&ev), ErrorCode::CallNotFound);

    // None of that touched the call: it still rings, and bob can decline.
    let ev = step(
        &mut b_ws,
        15,
        json!({"type": "reject", "req": 15, "call_id": id}),
    )
    .await;
    assert!(
        matches!(&ev, ServerEvent::CallReply { status, .. } if status.state == CallState::Rejected),
        "{ev:?}"
    );
    assert!(matches!(
        a_ws.next_event().await,
        ServerEvent::Rejected { .. }
    ));
    // A second reject is a wrong transition.
    let ev = step(
        &mut b_ws,
        16,
        json!({"type": "reject", "req": 16, "call_id": id}),
    )
    .await;
    assert_eq!(refused_code(&ev), ErrorCode::InvalidTransition);

    // A malformed step has no number to answer: it gets a plain error, and
    // the socket stays usable.
    a_ws.send_text(r#"{"type":"initiate","req":5,"callee":"bob"}"#)
        .await;
    match a_ws.next_event().await {
        ServerEvent::Error(body) => assert_eq!(body.code, ErrorCode::MissingField),
        other => panic!("expected an error, got {other:?}"),
    }
    a_ws.send_text(r#"{"type":"ping","nonce":9}"#).await;
    assert_eq!(a_ws.next_event().await, ServerEvent::Pong { nonce: 9 });
    c_ws.expect_silence(100).await;
}
