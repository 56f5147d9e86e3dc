//! Nobody can act as someone else: taken names, wrong keys, forged tokens,
//! other people's calls and key rotations without the old key all fail.

mod common;

use common::*;
use proto::identity::IdentityKeyPair;
use proto::signaling::{
    REGISTER_DOMAIN, ROTATE_KEY_DOMAIN, ServerEvent, register_message, rotate_key_message,
};
use serde_json::json;

#[tokio::test]
async fn taken_names_wrong_keys_and_forged_tokens_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(config(&dir.path().join("reg.sqlite3"))).await;
    let alice = User::new(&server, "alice", 1);
    alice.register().await;

    // Registering a taken name with another key.
    let mallory = User::new(&server, "alice", 66);
    let (s, v) = mallory
        .post("/register", mallory.register_body(&mallory.key))
        .await;
    assert_eq!((s, v["code"].as_str()), (409, Some("username_taken")));

    // A registration signed by a different key than the one it binds.
    let eve = User::new(&server, "eve", 5);
    let other = IdentityKeyPair::from_seed(&[6; 32]);
    let pk = eve.key.public().to_bytes();
    let ts = now();
    let sig = other.sign(REGISTER_DOMAIN, &register_message(&eve.name, &pk, ts));
    let body = json!({"username": "eve", "identity_key": b64(&pk), "timestamp": ts,
                      "signature": b64(&sig.to_bytes())});
    let (s, v) = eve.post("/register", body).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("invalid_signature")));

    // A stale registration.
    let sig = eve.key.sign(
        REGISTER_DOMAIN,
        &register_message(&eve.name, &pk, ts - 3600),
    );
    let body = json!({"username": "eve", "identity_key": b64(&pk), "timestamp": ts - 3600,
                      "signature": b64(&sig.to_bytes())});
    let (s, v) = eve.post("/register", body).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("stale_timestamp")));

    // Signing in as alice with mallory's key.
    let (s, v) = mallory.sign_in_with(&mallory.key).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("invalid_signature")));

    // Forged or missing tokens.
    let mut forger = User::new(&server, "alice", 66);
    forger.token = Some(format!("alice:{}:{}", now() + 3600, "00".repeat(32)));
    let (s, v) = forger.get("/fetch/alice").await;
    assert_eq!((s, v["code"].as_str()), (401, Some("unauthorized")));
    forger.token = None;
    let (s, v) = forger.get("/fetch/alice").await;
    assert_eq!((s, v["code"].as_str()), (401, Some("unauthorized")));

    // A real token still works, and the fetched key is alice's own.
    let mut alice = alice;
    alice.sign_in().await;
    let (s, v) = alice.get("/fetch/alice").await;
    assert_eq!(s, 200);
    assert_eq!(v["identity_key"], b64(&alice.key.public().to_bytes()));
}

#[tokio::test]
async fn other_peoples_calls_cannot_be_touched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(config(&dir.path().join("reg.sqlite3"))).await;
    let (alice, _a_ws) = online(&server, "alice", 1).await;
    let (_bob, mut b_ws) = online(&server, "bob", 2).await;
    let (mallory, mut m_ws) = online(&server, "mallory", 3).await;

    let (_, v) = alice.initiate("bob", b"offer").await;
    let id = call_id_of(&v);
    assert!(matches!(
        b_ws.next_event().await,
        ServerEvent::IncomingCall { .. }
    ));

    for (op, code) in [("reject", "not_a_party"), ("hangup", "not_a_party")] {
        let (s, v) = mallory.call_op(op, &id).await;
        assert_eq!((s, v["code"].as_str()), (403, Some(code)), "{op}");
    }
    let (s, v) = mallory.accept(&id, b"evil answer").await;
    assert_eq!((s, v["code"].as_str()), (403, Some("not_a_party")));
    let (s, v) = mallory.get(&format!("/call/status/{id}")).await;
    assert_eq!((s, v["code"].as_str()), (403, Some("not_a_party")));
    // The call still rings for bob and mallory heard nothing.
    let (_, v) = alice.get(&format!("/call/status/{id}")).await;
    assert_eq!(v["state"], "ringing");
    m_ws.expect_silence(200).await;
    let (s, v) = mallory
        .call_op("hangup", "0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!((s, v["code"].as_str()), (404, Some("call_not_found")));
}

#[tokio::test]
async fn key_rotation_needs_the_old_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(config(&dir.path().join("reg.sqlite3"))).await;
    let mut alice = User::new(&server, "alice", 1);
    alice.register().await;
    let new = IdentityKeyPair::from_seed(&[2; 32]);
    let thief = IdentityKeyPair::from_seed(&[3; 32]);
    let old_pk = alice.key.public().to_bytes();
    let new_pk = new.public().to_bytes();
    let ts = now();
    let msg = rotate_key_message(&alice.name, &old_pk, &new_pk, ts);
    let body = |old_sig: Vec<u8>, new_sig: Vec<u8>| {
        json!({"username": "alice", "new_identity_key": b64(&new_pk), "timestamp": ts,
               "old_signature": b64(&old_sig), "new_signature": b64(&new_sig)})
    };
    // Signed by a thief instead of the old key.
    let (s, v) = alice
        .post(
            "/account/rotate-key",
            body(
                thief.sign(ROTATE_KEY_DOMAIN, &msg).to_bytes(),
                new.sign(ROTATE_KEY_DOMAIN, &msg).to_bytes(),
            ),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (401, Some("invalid_signature")));
    // Without proof of the new key.
    let (s, v) = alice
        .post(
            "/account/rotate-key",
            body(
                alice.key.sign(ROTATE_KEY_DOMAIN, &msg).to_bytes(),
                thief.sign(ROTATE_KEY_DOMAIN, &msg).to_bytes(),
            ),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (401, Some("invalid_signature")));
    // Done right: the new key signs in, the old one no longer does.
    let (s, v) = alice
        .post(
            "/account/rotate-key",
            body(
                alice.key.sign(ROTATE_KEY_DOMAIN, &msg).to_bytes(),
                new.sign(ROTATE_KEY_DOMAIN, &msg).to_bytes(),
            ),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = alice.sign_in_with(&alice.key).await;
    assert_eq!(s, 401);
    alice.key = new;
    alice.sign_in().await;
    // Replaying the same rotation now fails: the old key is no longer current.
    let (s, v) = alice
        .post(
            "/account/rotate-key",
            body(
                IdentityKeyPair::from_seed(&[1; 32])
                    .sign(ROTATE_KEY_DOMAIN, &msg)
                    .to_bytes(),
                alice.key.sign(ROTATE_KEY_DOMAIN, &msg).to_bytes(),
            ),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (401, Some("invalid_signature")));
}
