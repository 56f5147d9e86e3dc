//! Sign-in does not tell which names exist: `/auth/challenge` answers an
//! unknown name exactly as a registered one, without reading the database,
//! and `/auth/token` refuses an unknown name with the error of a wrong
//! signature.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use common::*;
use http_body_util::BodyExt;
use proto::signaling::{CHALLENGE_LEN, ChallengeResponse};
use registry::store::{SqliteStore, Store};
use registry::{AppState, Config, app};
use serde_json::Value;
use tower::ServiceExt;

#[tokio::test]
async fn an_unknown_name_gets_a_like_challenge_and_fails_like_a_bad_signature() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(config(&dir.path().join("reg.sqlite3"))).await;
    let alice = User::new(&server, "alice", 1);
    alice.register().await;
    let nobody = User::new(&server, "nobody", 2);

    let (s1, known) = alice
        .post("/auth/challenge", serde_json::json!({"username": "alice"}))
        .await;
    let (s2, unknown) = nobody
        .post("/auth/challenge", serde_json::json!({"username": "nobody"}))
        .await;
    assert_eq!((s1, s2), (200, 200), "{known} {unknown}");
    // Same fields, same sizes, same lifetime.
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&known), keys(&unknown));
    let known: ChallengeResponse = serde_json::from_value(known).expect("challenge");
    let unknown: ChallengeResponse = serde_json::from_value(unknown).expect("challenge");
    assert_eq!(unknown.challenge.as_bytes().len(), CHALLENGE_LEN);
    assert!(known.expires_at.abs_diff(unknown.expires_at) <= 1);

    // Redeeming: an unknown name and a wrong key get the same answer.
    let (s_unknown, v_unknown) = nobody
        .redeem(&unknown.challenge, &nobody.key, &nobody.origin())
        .await;
    let (s_wrong, v_wrong) = alice
        .redeem(&alice.challenge().await, &nobody.key, &alice.origin())
        .await;
    assert_eq!((s_unknown, &v_unknown), (s_wrong, &v_wrong));
    assert_eq!(v_wrong["code"], "invalid_signature");
}

#[tokio::test]
async fn challenges_never_touch_the_database() {
    let sqlite = Arc::new(SqliteStore::in_memory().await.expect("sqlite"));
    let store: Arc<dyn Store> = Arc::clone(&sqlite) as Arc<dyn Store>;
    let mut c = Config::new(SocketAddr::from(([127, 0, 0, 1], 0)), "unused".into());
    c.rate_per_ip = 0;
    let state = AppState::new(c, store).await.expect("state");
    // With the database gone, a lookup would fail with `unavailable`;
    // challenges are still handed out, for any name.
    sqlite.close().await;
    for name in ["alice", "nobody"] {
        let req = Request::post("/auth/challenge")
            .body(Body::from(format!(r#"{{"username":"{name}"}}"#)))
            .expect("request");
        let res = app(state.clone()).oneshot(req).await.expect("infallible");
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(status, 200, "{name}: {body:?}");
        let ch: ChallengeResponse = serde_json::from_slice(&body).expect("challenge");
        assert_eq!(ch.challenge.as_bytes().len(), CHALLENGE_LEN);
    }
}
