//! `GET /ice`: only for signed-in users; the STUN port, and TURN REST
//! credentials whose password is the HMAC a relay with the same secret
//! computes, expiring `ttl` from now; none without TURN configured; rate
//! limited like every authenticated request. `/healthz` says what is on.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use hmac::{KeyInit, Mac};
use proto::signaling::{Health, IceConfig};

const SECRET: &str = "0b7f2d8c0e5a4f19a3c6d2e1f0a9b8c7";

/// A config with two relays sharing `SECRET`, written to a 0600 file.
fn with_turn(dir: &tempfile::TempDir) -> registry::Config {
    use std::os::unix::fs::PermissionsExt;
    let secret = dir.path().join("turn-secret");
    std::fs::write(&secret, format!("{SECRET}\n")).expect("write secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let mut c = config(&dir.path().join("reg.sqlite3"));
    c.turn_uris = [
        "turn:127.0.0.1:3478?transport=udp",
        "turn:relay.example.org?transport=tcp",
    ]
    .iter()
    .map(|u| proto::signaling::TurnUri::parse(u).expect("valid URI"))
    .collect();
    c.turn_secret_file = Some(secret);
    c.turn_ttl = Duration::from_secs(600);
    c
}

async fn health(user: &User) -> Health {
    let (s, v) = user.get("/healthz").await;
    assert_eq!(s, 200);
    serde_json::from_value(v).expect("health body")
}

#[tokio::test]
async fn ice_needs_a_token_and_hands_out_verifiable_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(with_turn(&dir)).await;
    let mut alice = User::new(&server, "alice", 1);
    alice.register().await;

    let (s, v) = alice.get("/ice").await;
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["code"], "unauthorized");
    let mut forged = User::new(&server, "alice", 1);
    forged.token = Some("not-a-token".into());
    let (s, _) = forged.get("/ice").await;
    assert_eq!(s, 401);

    alice.sign_in().await;
    let before = now();
    let (s, v) = alice.get("/ice").await;
    let after = now();
    assert_eq!(s, 200, "{v}");
    let ice: IceConfig = serde_json::from_value(v.clone()).expect("ice body");
    assert_eq!(ice.stun_port, server.stun_addr.map(|a| a.port()));
    assert!(ice.stun_port.is_some());
    let uris: Vec<&str> = ice.turn.iter().map(|t| t.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "turn:127.0.0.1:3478?transport=udp",
            "turn:relay.example.org:3478?transport=tcp"
        ]
    );
    for t in &ice.turn {
        assert_eq!(t.ttl_secs, 600);
        let (expiry, name) = t.username.split_once(':').expect("expiry:name");
        assert_eq!(name, "alice");
        let expiry: u64 = expiry.parse().expect("numeric expiry");
        assert!(
            (before + 600..=after + 600).contains(&expiry),
            "expiry {expiry} not now+600 ({before}..{after})"
        );
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(SECRET.as_bytes()).expect("key");
        mac.update(t.username.as_bytes());
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&t.credential)
            .expect("base64 credential");
        mac.verify_slice(&raw).expect("the credential is the HMAC");
    }
    // The secret itself is in no answer.
    assert!(!v.to_string().contains(SECRET));
    assert!(
        !serde_json::to_string(&health(&alice).await)
            .expect("json")
            .contains(SECRET)
    );
    let h = health(&alice).await;
    assert!(h.stun && h.turn, "{h:?}");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn without_turn_the_list_is_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(config(&dir.path().join("reg.sqlite3"))).await;
    let mut bob = User::new(&server, "bob", 2);
    bob.register().await;
    bob.sign_in().await;
    let (s, v) = bob.get("/ice").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["turn"], serde_json::json!([]));
    assert_eq!(v["stun_port"], server.addr.port());
    let h = health(&bob).await;
    assert!(h.stun && !h.turn, "{h:?}");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn ice_spends_the_accounts_rate_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = with_turn(&dir);
    c.rate_per_account = 1;
    c.burst_per_account = 3;
    let server = start(c).await;
    let mut carol = User::new(&server, "carol", 3);
    carol.register().await;
    carol.sign_in().await;
    let mut codes = Vec::new();
    for _ in 0..8 {
        codes.push(carol.get("/ice").await.0);
    }
    assert!(codes.contains(&200), "{codes:?}");
    assert!(codes.contains(&429), "{codes:?}");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_registry_with_a_readable_turn_secret_does_not_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let c = with_turn(&dir);
    let secret = c.turn_secret_file.clone().expect("secret file");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let e = registry::Server::start(c).await.expect_err("refused");
    assert!(e.to_string().contains("chmod 600"), "{e}");
    assert!(!e.to_string().contains(SECRET));
}
