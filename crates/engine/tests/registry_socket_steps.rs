//! The registry client sends call steps on its push socket while one is up
//! and over HTTP otherwise; either way a step means the same and fails with
//! the same error codes.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{name, until};
use engine::registry_client::{EventStream, RegistryClient, RegistryEvent};
use proto::identity::IdentityKeyPair;
use proto::signaling::{CallId, CallState, ErrorCode, ServerEvent};

fn client(addr: SocketAddr, user: &str, seed: u8) -> Arc<RegistryClient> {
    Arc::new(
        RegistryClient::new(
            &format!("http://{addr}"),
            name(user),
            Arc::new(IdentityKeyPair::from_seed(&[seed; 32])),
        )
        .expect("client"),
    )
}

async fn start(dir: &tempfile::TempDir) -> registry::Server {
    let c = testkit::registry_config(dir.path());
    registry::Server::start(c).await.expect("registry starts")
}

/// A registry with alice and bob registered on it.
async fn alice_and_bob(
    dir: &tempfile::TempDir,
) -> (registry::Server, Arc<RegistryClient>, Arc<RegistryClient>) {
    let server = start(dir).await;
    let alice = client(server.addr, "alice", 1);
    let bob = client(server.addr, "bob", 2);
    alice.register().await.expect("register alice");
    bob.register().await.expect("register bob");
    (server, alice, bob)
}

async fn incoming(events: &mut EventStream) -> CallId {
    match until(events, |e| {
        matches!(e, RegistryEvent::Server(ServerEvent::IncomingCall { .. }))
    })
    .await
    {
        RegistryEvent::Server(ServerEvent::IncomingCall { call_id, .. }) => call_id,
        _ => unreachable!("filtered above"),
    }
}

#[tokio::test]
async fn connected_clients_use_the_socket_and_refusals_keep_their_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, alice, bob) = alice_and_bob(&dir).await;
    let mut a_ev = alice.events(vec![]);
    let mut b_ev = bob.events(vec![]);
    until(&mut a_ev, |e| *e == RegistryEvent::Connected).await;
    until(&mut b_ev, |e| *e == RegistryEvent::Connected).await;

    let status = alice
        .initiate(&name("bob"), vec![7; 6000])
        .await
        .expect("initiate");
    assert_eq!(status.state, CallState::Ringing);
    let call_id = incoming(&mut b_ev).await;
    assert_eq!(call_id, status.call_id);
    let st = bob.accept(&call_id, vec![8; 3000]).await.expect("accept");
    assert_eq!(st.state, CallState::Active);
    until(&mut a_ev, |e| {
        matches!(e, RegistryEvent::Server(ServerEvent::Accepted { .. }))
    })
    .await;
    let st = bob.hangup(&call_id).await.expect("hangup");
    assert_eq!(st.state, CallState::Ended);
    assert_eq!((alice.socket_steps(), bob.socket_steps()), (1, 2));

    // Refusals on the socket carry the HTTP endpoint's code and status.
    let err = alice
        .initiate(&name("alice"), vec![1])
        .await
        .expect_err("self call");
    assert_eq!(err.code(), Some(ErrorCode::SelfCall));
    assert!(err.to_string().contains("400"), "{err}");
    let err = bob.hangup(&call_id).await.expect_err("already ended");
    assert_eq!(err.code(), Some(ErrorCode::InvalidTransition));
    let err = alice
        .initiate(&name("nobody"), vec![1])
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), Some(ErrorCode::UnknownUser));
    assert_eq!((alice.socket_steps(), bob.socket_steps()), (3, 3));

    // The answers were taken off the stream: the app sees only pushes.
    for events in [&mut a_ev, &mut b_ev] {
        while let Ok(Some(ev)) =
            tokio::time::timeout(Duration::from_millis(200), events.next()).await
        {
            assert!(
                !matches!(
                    ev,
                    RegistryEvent::Server(
                        ServerEvent::CallReply { .. } | ServerEvent::CallRefused { .. }
                    )
                ),
                "answer leaked to the stream: {ev:?}"
            );
        }
    }
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn without_a_socket_the_same_steps_go_over_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, alice, bob) = alice_and_bob(&dir).await;
    // Bob listens; alice has no push socket.
    let mut b_ev = bob.events(vec![]);
    until(&mut b_ev, |e| *e == RegistryEvent::Connected).await;

    let status = alice
        .initiate(&name("bob"), vec![7; 6000])
        .await
        .expect("initiate over HTTP");
    let call_id = incoming(&mut b_ev).await;
    assert_eq!(call_id, status.call_id);
    let err = alice
        .initiate(&name("bob"), vec![7; 10])
        .await
        .expect_err("already ringing");
    assert_eq!(err.code(), Some(ErrorCode::AlreadyInCall));
    let st = alice.hangup(&call_id).await.expect("cancel over HTTP");
    assert_eq!(st.state, CallState::Cancelled);
    assert_eq!(alice.socket_steps(), 0);

    // Once bob's stream is gone, his steps fall back to HTTP too.
    drop(b_ev);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = bob
        .reject(&call_id)
        .await
        .expect_err("the call was cancelled");
    assert_eq!(err.code(), Some(ErrorCode::InvalidTransition));
    assert_eq!(bob.socket_steps(), 0);
    server.shutdown().await.expect("shutdown");
}
