//! Bad input, driven in-process through the router: every refusal is a 4xx
//! with a JSON body and a precise code, and nothing changes server state.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use proto::signaling::MAX_REQUEST_BODY;
use registry::store::{SqliteStore, Store};
use registry::{AppState, Config, app};
use serde_json::Value;
use tower::ServiceExt;

async fn state() -> AppState {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.expect("sqlite"));
    let mut c = Config::new(SocketAddr::from(([127, 0, 0, 1], 0)), "unused".into());
    c.rate_per_ip = 0;
    AppState::new(c, store).await.expect("state")
}

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, Value) {
    let res = app(state.clone()).oneshot(req).await.expect("infallible");
    let status = res.status();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    let v: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("non-JSON body for {status}: {body:?}"));
    (status, v)
}

fn post(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(body.into())
        .expect("request")
}

#[tokio::test]
async fn malformed_bodies_get_precise_4xx_codes() {
    let st = state().await;
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("/register", b"{not json".to_vec(), 400, "malformed_json"),
        ("/register", b"".to_vec(), 400, "malformed_json"),
        ("/register", b"null".to_vec(), 400, "malformed_json"),
        (
            "/auth/challenge",
            br#"{"username":"alice","role":"admin"}"#.to_vec(),
            400,
            "unknown_field",
        ),
        ("/auth/challenge", b"{}".to_vec(), 400, "missing_field"),
        (
            "/auth/challenge",
            b"{\"username\":\"\xc3\x28\"}".to_vec(),
            400,
            "invalid_utf8",
        ),
        (
            "/auth/challenge",
            br#"{"username":"UPPER"}"#.to_vec(),
            400,
            "invalid_username",
        ),
        (
            "/auth/challenge",
            br#"{"username":42}"#.to_vec(),
            400,
            "malformed_json",
        ),
        (
            "/auth/challenge",
            format!(r#"{{"username":"{}"}}"#, "a".repeat(40_000)).into_bytes(),
            400,
            "invalid_username",
        ),
        (
            "/register",
            br#"{"username":"alice","identity_key":"%%%","timestamp":1,"signature":"AA=="}"#
                .to_vec(),
            400,
            "invalid_base64",
        ),
        (
            "/register",
            br#"{"username":"alice","identity_key":"AAAA","timestamp":-1,"signature":"AA=="}"#
                .to_vec(),
            400,
            "malformed_json",
        ),
        (
            "/register",
            br#"{"username":"alice","identity_key":"AAAA","timestamp":1,"signature":"AA=="}"#
                .to_vec(),
            400,
            "stale_timestamp",
        ),
        (
            "/call/initiate",
            br#"{"callee":"bob","offer":"AA=="}"#.to_vec(),
            401,
            "unauthorized",
        ),
    ];
    for (path, body, status, code) in cases {
        let (s, v) = send(&st, post(path, body.clone())).await;
        assert_eq!(
            (s.as_u16(), v["code"].as_str()),
            (status, Some(code)),
            "{path} {:?}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        );
        assert!(v["message"].is_string());
    }
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let st = state().await;
    let big = vec![b'x'; MAX_REQUEST_BODY + 1];
    let (s, v) = send(&st, post("/register", big)).await;
    assert_eq!(
        (s.as_u16(), v["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    // Also without a Content-Length header (streamed body).
    let stream = futures_util::stream::iter(
        (0..80).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 1024]))),
    );
    let req = Request::post("/register")
        .body(Body::from_stream(stream))
        .expect("request");
    let (s, v) = send(&st, req).await;
    assert_eq!(
        (s.as_u16(), v["code"].as_str()),
        (413, Some("payload_too_large"))
    );
}

#[tokio::test]
async fn bad_paths_and_methods_are_json_errors() {
    let st = state().await;
    let get = |p: &str| Request::get(p).body(Body::empty()).expect("request");
    let (s, v) = send(&st, get("/nope")).await;
    assert_eq!((s.as_u16(), v["code"].as_str()), (404, Some("not_found")));
    let (s, v) = send(&st, get("/register")).await;
    assert_eq!(
        (s.as_u16(), v["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    // Bad path segments are refused before any token check would matter.
    let alice = proto::signaling::Username::parse("alice").expect("valid");
    let key = b"alice's key".to_vec();
    st.store
        .create_user(&registry::store::UserRecord {
            username: alice.clone(),
            identity_key: key.clone(),
            created_at: 0,
            key_updated_at: 0,
            last_seen: None,
        })
        .await
        .expect("user stored");
    let token = st.auth.issue_token(&alice, &key, registry::unix_now() + 60);
    let authed = |p: &str| {
        Request::get(p)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request")
    };
    let (s, v) = send(&st, authed(&format!("/fetch/{}", "a".repeat(500)))).await;
    assert_eq!(
        (s.as_u16(), v["code"].as_str()),
        (400, Some("invalid_username"))
    );
    let (s, v) = send(&st, authed("/fetch/%C3%28")).await;
    assert_eq!(s.as_u16(), 400, "{v}");
    let (s, v) = send(&st, authed("/call/status/not-a-call-id")).await;
    assert_eq!(
        (s.as_u16(), v["code"].as_str()),
        (400, Some("invalid_call_id"))
    );
    let (s, v) = send(&st, authed("/users?q=ALICE")).await;
    assert_eq!(
        (s.as_u16(), v["code"].as_str()),
        (400, Some("invalid_field"))
    );
    let (s, v) = send(&st, authed("/users?limit=100000")).await;
    assert_eq!(
        (s.as_u16(), v["code"].as_str()),
        (400, Some("invalid_field"))
    );
    let (s, v) = send(&st, authed("/users?q=a&extra=1")).await;
    assert_eq!(s.as_u16(), 400, "{v}");
    let (s, v) = send(&st, authed("/fetch/nobody")).await;
    assert_eq!(
        (s.as_u16(), v["code"].as_str()),
        (404, Some("unknown_user"))
    );
    // Nothing above created an account besides alice's.
    let (s, v) = send(&st, authed("/users")).await;
    assert_eq!(s.as_u16(), 200);
    assert_eq!(v["users"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn rate_limit_answers_429_with_a_code() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.expect("sqlite"));
    let mut c = Config::new(SocketAddr::from(([127, 0, 0, 1], 0)), "unused".into());
    c.rate_per_ip = 1;
    c.burst_per_ip = 3;
    let st = AppState::new(c, store).await.expect("state");
    let mut codes = Vec::new();
    for _ in 0..6 {
        let (s, v) = send(
            &st,
            post("/auth/challenge", br#"{"username":"nobody"}"#.to_vec()),
        )
        .await;
        codes.push((s.as_u16(), v["code"].as_str().map(str::to_owned)));
    }
    // Challenges are issued for any name (see sign_in_unknown_names.rs).
    assert_eq!(codes[0].0, 200);
    assert!(
        codes.contains(&(429, Some("rate_limited".into()))),
        "{codes:?}"
    );
    // Health and metrics are never limited.
    let (s, _) = send(
        &st,
        Request::get("/healthz").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(s.as_u16(), 200);
}
