//! Operator settings that keep data private: `/metrics` is not public (a
//! token, or a listener of its own), and call records are deleted once
//! their retention time has passed.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;

async fn get_metrics(addr: SocketAddr, token: Option<&str>) -> (u16, String) {
    let mut req = http_client().get(format!("http://{addr}/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request sent");
    (res.status().as_u16(), res.text().await.expect("body"))
}

#[tokio::test]
async fn with_a_token_file_metrics_need_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("metrics.token");
    std::fs::write(&token_file, "s3cret-scraper-token\n").expect("write token");
    let mut c = config(&dir.path().join("reg.sqlite3"));
    c.metrics_token_file = Some(token_file);
    let server = start(c).await;
    // Even from loopback, no token (or a wrong one) gets nothing.
    let (s, body) = get_metrics(server.addr, None).await;
    assert_eq!(s, 401, "{body}");
    assert!(!body.contains("pqvoice_"), "{body}");
    let (s, _) = get_metrics(server.addr, Some("s3cret-scraper-tokeN")).await;
    assert_eq!(s, 401);
    let (s, body) = get_metrics(server.addr, Some("s3cret-scraper-token")).await;
    assert_eq!(s, 200);
    assert!(body.contains("pqvoice_connections_open"), "{body}");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn with_a_metrics_listener_the_main_one_does_not_serve_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(&dir.path().join("reg.sqlite3"));
    c.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    let server = start(c).await;
    let metrics_addr = server.metrics_addr.expect("a metrics listener");
    assert_ne!(metrics_addr, server.addr);
    let (s, body) = get_metrics(server.addr, None).await;
    assert_eq!(s, 404, "{body}");
    let (s, body) = get_metrics(metrics_addr, None).await;
    assert_eq!(s, 200);
    assert!(body.contains("pqvoice_ws_open"), "{body}");
    // The metrics listener serves nothing else.
    let res = http_client()
        .get(format!("http://{metrics_addr}/healthz"))
        .send()
        .await
        .expect("request sent");
    assert_eq!(res.status().as_u16(), 404);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn call_records_are_deleted_after_the_retention_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(&dir.path().join("reg.sqlite3"));
    // Keep nothing: a record goes at the first sweep after the second it
    // last changed in. Finished calls also leave memory at once.
    c.call_retention = Duration::ZERO;
    c.call_sweep_interval = Duration::from_millis(200);
    c.finished_call_retention = Duration::ZERO;
    let server = start(c).await;
    let (alice, _a_ws) = online(&server, "alice", 1).await;
    let (_bob, mut b_ws) = online(&server, "bob", 2).await;
    let (_, v) = alice.initiate("bob", b"offer").await;
    let id = call_id_of(&v);
    assert!(matches!(
        b_ws.next_event().await,
        proto::signaling::ServerEvent::IncomingCall { .. }
    ));
    let (_, v) = alice.call_op("hangup", &id).await;
    assert_eq!(v["state"], "cancelled");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (s, v) = alice.get(&format!("/call/status/{id}")).await;
        if s == 404 {
            assert_eq!(v["code"], "call_not_found");
            break;
        }
        assert_eq!(v["state"], "cancelled");
        assert!(
            std::time::Instant::now() < deadline,
            "the record outlived its retention"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.shutdown().await.expect("clean shutdown");
}
