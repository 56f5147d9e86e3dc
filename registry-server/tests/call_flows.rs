//! Full call flows over a real loopback port: every push arrives at the
//! right party with the blobs unchanged, and every state is reported.

mod common;

use std::time::Duration;

use common::*;
use proto::signaling::{CallState, Presence, ServerEvent};

async fn server_with_ring_timeout(dir: &tempfile::TempDir, ring: Duration) -> registry::Server {
    let mut c = config(&dir.path().join("reg.sqlite3"));
    c.ring_timeout = ring;
    c.disconnect_grace = Duration::from_millis(300);
    start(c).await
}

/// Alice calls bob and bob's push socket shows the incoming call; returns the call id.
async fn ring_bob(alice: &User, b_ws: &mut Socket) -> String {
    let (_, v) = alice.initiate("bob", b"offer").await;
    let id = call_id_of(&v);
    assert!(matches!(
        b_ws.next_event().await,
        ServerEvent::IncomingCall { .. }
    ));
    id
}

#[tokio::test]
async fn ring_accept_hangup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server_with_ring_timeout(&dir, Duration::from_secs(30)).await;
    let (alice, mut a_ws) = online(&server, "alice", 1).await;
    let (bob, mut b_ws) = online(&server, "bob", 2).await;

    let offer = vec![0xA5; 7000];
    let (s, v) = alice.initiate("bob", &offer).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "ringing");
    let id = call_id_of(&v);

    match b_ws.next_event().await {
        ServerEvent::IncomingCall {
            call_id,
            caller,
            offer: got,
            ..
        } => {
            assert_eq!(call_id.as_str(), id);
            assert_eq!(caller.as_str(), "alice");
            assert_eq!(got.to_bytes(), offer, "offer relayed unchanged");
        }
        other => panic!("expected incoming call, got {other:?}"),
    }
    // Polling fallback shows the offer to the callee only.
    let (s, v) = bob.get(&format!("/call/status/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(v["state"], "ringing");
    assert!(v["offer"].is_string());
    let (_, v) = alice.get(&format!("/call/status/{id}")).await;
    assert!(v.get("offer").is_none());
    let (s, v) = bob.get("/call/incoming").await;
    assert_eq!(s, 200);
    assert_eq!(v["calls"][0]["call_id"], id.as_str());

    // Being in a call is not presence: bob shares his with alice, who sees
    // him online, and nobody else sees anything.
    bob.add_contact("alice").await;
    let (_, v) = alice.get("/fetch/bob").await;
    assert_eq!(v["presence"], "online");

    let answer = vec![0x5A; 3500];
    let (s, v) = bob.accept(&id, &answer).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "active");
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

    let (s, v) = alice.call_op("hangup", &id).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "ended");
    match b_ws.next_event().await {
        ServerEvent::Ended { call_id, by } => {
            assert_eq!(call_id.as_str(), id);
            assert_eq!(by.expect("hung up by alice").as_str(), "alice");
        }
        other => panic!("expected ended, got {other:?}"),
    }
    // A second hangup is a wrong transition, not a crash.
    let (s, v) = bob.call_op("hangup", &id).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("invalid_transition")));
    let (_, v) = alice.get("/fetch/bob").await;
    assert_eq!(v["presence"], "online");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn reject() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server_with_ring_timeout(&dir, Duration::from_secs(30)).await;
    let (alice, mut a_ws) = online(&server, "alice", 1).await;
    let (bob, mut b_ws) = online(&server, "bob", 2).await;
    let id = ring_bob(&alice, &mut b_ws).await;
    // The caller cannot reject on the callee's behalf.
    let (s, v) = alice.call_op("reject", &id).await;
    assert_eq!((s, v["code"].as_str()), (403, Some("not_a_party")));
    let (s, v) = bob.call_op("reject", &id).await;
    assert_eq!((s, v["state"].as_str()), (200, Some("rejected")));
    match a_ws.next_event().await {
        ServerEvent::Rejected { call_id } => assert_eq!(call_id.as_str(), id),
        other => panic!("expected rejected, got {other:?}"),
    }
    let (s, v) = bob.accept(&id, b"late").await;
    assert_eq!((s, v["code"].as_str()), (409, Some("invalid_transition")));
}

#[tokio::test]
async fn missed_by_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server_with_ring_timeout(&dir, Duration::from_millis(300)).await;
    let (alice, mut a_ws) = online(&server, "alice", 1).await;
    let (bob, mut b_ws) = online(&server, "bob", 2).await;
    let id = ring_bob(&alice, &mut b_ws).await;
    for ws in [&mut a_ws, &mut b_ws] {
        match ws.next_event().await {
            ServerEvent::Missed {
                call_id,
                caller,
                callee,
            } => {
                assert_eq!(call_id.as_str(), id);
                assert_eq!((caller.as_str(), callee.as_str()), ("alice", "bob"));
            }
            other => panic!("expected missed, got {other:?}"),
        }
    }
    let (_, v) = bob.get(&format!("/call/status/{id}")).await;
    assert_eq!(v["state"], "missed");
    let (s, v) = bob.accept(&id, b"too late").await;
    assert_eq!((s, v["code"].as_str()), (409, Some("invalid_transition")));
    // Both are free again.
    let (s, v) = alice.initiate("bob", b"again").await;
    assert_eq!((s, v["state"].as_str()), (200, Some("ringing")));
}

#[tokio::test]
async fn busy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server_with_ring_timeout(&dir, Duration::from_secs(30)).await;
    let (alice, _a_ws) = online(&server, "alice", 1).await;
    let (bob, mut b_ws) = online(&server, "bob", 2).await;
    let (carol, mut c_ws) = online(&server, "carol", 3).await;
    let id = ring_bob(&alice, &mut b_ws).await;
    let (s, _) = bob.accept(&id, b"answer").await;
    assert_eq!(s, 200);

    let (s, v) = carol.initiate("bob", b"offer2").await;
    assert_eq!((s, v["state"].as_str()), (200, Some("busy")));
    match c_ws.next_event().await {
        ServerEvent::Busy { callee, .. } => assert_eq!(callee.as_str(), "bob"),
        other => panic!("expected busy, got {other:?}"),
    }
    b_ws.expect_silence(200).await;
    // A caller already in a call cannot place another.
    let (s, v) = alice.initiate("carol", b"offer3").await;
    assert_eq!((s, v["code"].as_str()), (409, Some("already_in_call")));
    // Calling yourself, an offline or an unknown user is refused clearly.
    let (s, v) = carol.initiate("carol", b"x").await;
    assert_eq!((s, v["code"].as_str()), (400, Some("self_call")));
    let dave = User::new(&server, "dave", 4);
    dave.register().await;
    let (s, v) = carol.initiate("dave", b"x").await;
    assert_eq!((s, v["code"].as_str()), (409, Some("callee_offline")));
    let (s, v) = carol.initiate("nobody", b"x").await;
    assert_eq!((s, v["code"].as_str()), (404, Some("unknown_user")));
}

#[tokio::test]
async fn cancel_by_caller() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server_with_ring_timeout(&dir, Duration::from_secs(30)).await;
    let (alice, _a_ws) = online(&server, "alice", 1).await;
    let (bob, mut b_ws) = online(&server, "bob", 2).await;
    let id = ring_bob(&alice, &mut b_ws).await;
    let (s, v) = alice.call_op("hangup", &id).await;
    assert_eq!((s, v["state"].as_str()), (200, Some("cancelled")));
    match b_ws.next_event().await {
        ServerEvent::Cancelled { call_id } => assert_eq!(call_id.as_str(), id),
        other => panic!("expected cancelled, got {other:?}"),
    }
    let (s, v) = bob.accept(&id, b"answer").await;
    assert_eq!((s, v["code"].as_str()), (409, Some("invalid_transition")));
}

#[tokio::test]
async fn disconnect_mid_ring() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server_with_ring_timeout(&dir, Duration::from_secs(30)).await;

    // Caller drops: the callee's ringing stops.
    let (alice, a_ws) = online(&server, "alice", 1).await;
    let (bob, mut b_ws) = online(&server, "bob", 2).await;
    let id = ring_bob(&alice, &mut b_ws).await;
    a_ws.close().await;
    match b_ws.next_event().await {
        ServerEvent::Cancelled { call_id } => assert_eq!(call_id.as_str(), id),
        other => panic!("expected cancelled, got {other:?}"),
    }
    let (_, v) = bob.get(&format!("/call/status/{id}")).await;
    assert_eq!(v["state"], CallState::Cancelled.as_str());

    // Callee drops: the caller hears it was missed.
    let (_, v) = bob.initiate("carol", b"x").await;
    assert_eq!(v["code"], "unknown_user");
    let (carol, mut c_ws) = online(&server, "carol", 3).await;
    let (_, v) = carol.initiate("bob", b"offer").await;
    let id = call_id_of(&v);
    assert!(matches!(
        b_ws.next_event().await,
        ServerEvent::IncomingCall { .. }
    ));
    b_ws.close().await;
    match c_ws.next_event().await {
        ServerEvent::Missed { call_id, .. } => assert_eq!(call_id.as_str(), id),
        other => panic!("expected missed, got {other:?}"),
    }
    assert_eq!(server.state.hub.presence(&bob.name).0, Presence::Offline);
}

#[tokio::test]
async fn active_call_ends_after_grace_when_a_party_stays_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server_with_ring_timeout(&dir, Duration::from_secs(30)).await;
    let (alice, mut a_ws) = online(&server, "alice", 1).await;
    let (bob, mut b_ws) = online(&server, "bob", 2).await;
    let id = ring_bob(&alice, &mut b_ws).await;
    bob.accept(&id, b"answer").await;
    assert!(matches!(
        a_ws.next_event().await,
        ServerEvent::Accepted { .. }
    ));
    b_ws.close().await;
    match a_ws.next_event().await {
        ServerEvent::Ended { call_id, by } => {
            assert_eq!(call_id.as_str(), id);
            assert!(by.is_none(), "ended by the server, not a party");
        }
        other => panic!("expected ended, got {other:?}"),
    }
}

#[tokio::test]
async fn presence_subscriptions_push_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server_with_ring_timeout(&dir, Duration::from_secs(30)).await;
    let (_alice, mut a_ws) = online(&server, "alice", 1).await;
    let mut bob = User::new(&server, "bob", 2);
    bob.register().await;
    bob.sign_in().await;
    bob.add_contact("alice").await;
    a_ws.send_text(r#"{"type":"subscribe","usernames":["bob"]}"#)
        .await;
    match a_ws.next_event().await {
        ServerEvent::Presence(p) => assert_eq!(p.presence, Presence::Offline),
        other => panic!("expected presence snapshot, got {other:?}"),
    }
    let b_ws = bob.ws(&server).await;
    match a_ws.next_event().await {
        ServerEvent::Presence(p) => {
            assert_eq!((p.username.as_str(), p.presence), ("bob", Presence::Online));
        }
        other => panic!("expected bob online, got {other:?}"),
    }
    b_ws.close().await;
    match a_ws.next_event().await {
        ServerEvent::Presence(p) => {
            assert_eq!(p.presence, Presence::Offline);
            assert!(p.last_seen.is_some());
        }
        other => panic!("expected bob offline, got {other:?}"),
    }
    // Ping/pong and a bad frame that leaves the socket open.
    a_ws.send_text(r#"{"type":"ping","nonce":42}"#).await;
    assert_eq!(a_ws.next_event().await, ServerEvent::Pong { nonce: 42 });
    a_ws.send_text(r#"{"type":"subscribe","usernames":["NOT VALID"]}"#)
        .await;
    match a_ws.next_event().await {
        ServerEvent::Error(e) => assert_eq!(e.code.as_str(), "invalid_username"),
        other => panic!("expected error, got {other:?}"),
    }
    a_ws.send_text(r#"{"type":"ping","nonce":43}"#).await;
    assert_eq!(a_ws.next_event().await, ServerEvent::Pong { nonce: 43 });
}
