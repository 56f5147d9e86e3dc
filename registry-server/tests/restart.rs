//! Restarting the server on the same database keeps accounts, tokens and
//! call records; push sockets are closed with "service restart" (1012).

mod common;

use common::*;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn accounts_and_tokens_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("reg.sqlite3");
    let server = start(config(&db)).await;
    let addr = server.addr;
    let (alice, mut a_ws) = online(&server, "alice", 1).await;
    let (bob, mut b_ws) = online(&server, "bob", 2).await;
    // Bob shares his presence with alice; it outlives the restart too.
    bob.add_contact("alice").await;
    let (_, v) = alice.initiate("bob", b"offer").await;
    let id = call_id_of(&v);
    assert!(matches!(
        b_ws.next_event().await,
        proto::signaling::ServerEvent::IncomingCall { .. }
    ));
    let (_, v) = alice.call_op("hangup", &id).await;
    assert_eq!(v["state"], "cancelled");
    // Let the writer task store the call record.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    server.shutdown().await.expect("clean shutdown");
    // The push socket was told why it closed.
    let close = loop {
        match a_ws.ws.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.expect("close frame").code), 1012);

    let mut c = config(&db);
    c.listen = addr;
    let server = start(c).await;
    // Same database: the name is still taken, the old token still valid,
    // the finished call still answerable.
    let mallory = User::new(&server, "alice", 66);
    let (s, v) = mallory
        .post("/register", mallory.register_body(&mallory.key))
        .await;
    assert_eq!((s, v["code"].as_str()), (409, Some("username_taken")));
    let (s, v) = alice.get("/fetch/bob").await;
    assert_eq!(s, 200, "old token accepted after restart: {v}");
    assert_eq!(v["presence"], "offline");
    assert!(v["last_seen"].is_u64());
    let (s, v) = alice.get(&format!("/call/status/{id}")).await;
    assert_eq!((s, v["state"].as_str()), (200, Some("cancelled")));
    // Reconnecting works and brings presence back.
    let mut a_ws = alice.ws(&server).await;
    assert!(matches!(
        a_ws.next_event().await,
        proto::signaling::ServerEvent::Welcome { .. }
    ));
    let (_, v) = alice.get("/fetch/alice").await;
    assert_eq!(v["presence"], "online");
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("pqvoice_ws_open"), "{metrics}");
    server.shutdown().await.expect("clean shutdown");
}
