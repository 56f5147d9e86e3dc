//! A bearer token is bound to the identity key it was issued for: rotating
//! the account's key revokes every token of the old key, over HTTP and for
//! push sockets (an open one is closed), while a sign-in with the new key
//! works. Real server
//! on a loopback port.

mod common;

use common::*;
use futures_util::StreamExt;
use proto::identity::IdentityKeyPair;
use proto::signaling::{ROTATE_KEY_DOMAIN, ServerEvent, rotate_key_message};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Waits until the server closes `socket`, failing after 5 s or on any
/// pushed event.
async fn closed(socket: &mut Socket) {
    loop {
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), socket.ws.next())
            .await
            .expect("the socket closes within 5 s");
        match next {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
            Some(Ok(Message::Text(t))) => panic!("unexpected event: {t}"),
            Some(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn rotating_the_key_revokes_tokens_of_the_old_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(config(&dir.path().join("reg.sqlite3"))).await;
    let mut alice = User::new(&server, "alice", 1);
    alice.register().await;
    alice.sign_in().await;
    let (s, v) = alice.get("/fetch/alice").await;
    assert_eq!(s, 200, "{v}");
    let old_token = alice.token.clone().expect("signed in");
    let mut old_socket = alice.ws(&server).await;
    assert!(matches!(
        old_socket.next_event().await,
        ServerEvent::Welcome { .. }
    ));

    let new = IdentityKeyPair::from_seed(&[2; 32]);
    let old_pk = alice.key.public().to_bytes();
    let new_pk = new.public().to_bytes();
    let ts = now();
    let msg = rotate_key_message(&alice.name, &old_pk, &new_pk, ts);
    let (s, v) = alice
        .post(
            "/account/rotate-key",
            json!({
                "username": "alice",
                "new_identity_key": b64(&new_pk),
                "timestamp": ts,
                "old_signature": b64(&alice.key.sign(ROTATE_KEY_DOMAIN, &msg).to_bytes()),
                "new_signature": b64(&new.sign(ROTATE_KEY_DOMAIN, &msg).to_bytes()),
            }),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    // The socket opened with the old key's token is closed ...
    closed(&mut old_socket).await;
    // ... and the token, still within its lifetime, is refused.
    let (s, v) = alice.get("/fetch/alice").await;
    assert_eq!((s, v["code"].as_str()), (401, Some("unauthorized")), "{v}");
    let mut req = format!("ws://{}/ws", server.addr)
        .into_client_request()
        .expect("ws request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {old_token}").parse().expect("header"),
    );
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status().as_u16(), 401);
        }
        other => panic!("old token opened a socket: {other:?}"),
    }

    // Signing in with the new key gives a token that works.
    alice.key = new;
    alice.sign_in().await;
    assert_ne!(alice.token.as_deref(), Some(old_token.as_str()));
    let (s, v) = alice.get("/fetch/alice").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["identity_key"], b64(&new_pk));
}
