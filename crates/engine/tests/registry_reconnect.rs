//! The engine's registry client against a real registry on loopback: a full
//! call through the client API, then a registry restart on the same
//! database, after which the clients reconnect by themselves, the presence
//! subscriptions are restored and calls work again.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{name, until};
use engine::registry_client::{Backoff, EventStream, RegistryClient, RegistryEvent};
use proto::identity::IdentityKeyPair;
use proto::signaling::{CallState, ErrorCode, Presence, ServerEvent};

fn client(addr: SocketAddr, user: &str, seed: u8) -> Arc<RegistryClient> {
    let mut c = RegistryClient::new(
        &format!("http://{addr}"),
        name(user),
        Arc::new(IdentityKeyPair::from_seed(&[seed; 32])),
    )
    .expect("client");
    c.set_backoff(Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
    });
    Arc::new(c)
}

fn config(addr: SocketAddr, db: &std::path::Path) -> registry::Config {
    let mut c = registry::Config::new(addr, db.to_path_buf());
    c.rate_per_ip = 0;
    c.rate_per_account = 0;
    c
}

async fn call_once(
    alice: &RegistryClient,
    a_ev: &mut EventStream,
    b_ev: &mut EventStream,
    bob: &RegistryClient,
) {
    let offer = vec![1u8; 6000];
    let status = alice
        .initiate(&name("bob"), offer.clone())
        .await
        .expect("initiate");
    assert_eq!(status.state, CallState::Ringing);
    let ev = until(b_ev, |e| {
        matches!(e, RegistryEvent::Server(ServerEvent::IncomingCall { .. }))
    })
    .await;
    let RegistryEvent::Server(ServerEvent::IncomingCall {
        call_id,
        offer: got,
        ..
    }) = ev
    else {
        unreachable!("filtered above");
    };
    assert_eq!(call_id, status.call_id);
    assert_eq!(got.to_bytes(), offer);
    let answer = vec![2u8; 3000];
    let st = bob.accept(&call_id, answer.clone()).await.expect("accept");
    assert_eq!(st.state, CallState::Active);
    let ev = until(a_ev, |e| {
        matches!(e, RegistryEvent::Server(ServerEvent::Accepted { .. }))
    })
    .await;
    let RegistryEvent::Server(ServerEvent::Accepted { answer: got, .. }) = ev else {
        unreachable!("filtered above");
    };
    assert_eq!(got.to_bytes(), answer);
    let st = alice.hangup(&call_id).await.expect("hangup");
    assert_eq!(st.state, CallState::Ended);
    until(b_ev, |e| {
        matches!(e, RegistryEvent::Server(ServerEvent::Ended { .. }))
    })
    .await;
    assert_eq!(
        alice.status(&call_id).await.expect("status").state,
        CallState::Ended
    );
}

#[tokio::test]
async fn clients_reconnect_and_restore_presence_after_a_registry_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("registry.sqlite3");
    let server = registry::Server::start(config(SocketAddr::from(([127, 0, 0, 1], 0)), &db))
        .await
        .expect("registry starts");
    let addr = server.addr;

    let alice = client(addr, "alice", 1);
    let bob = client(addr, "bob", 2);
    alice.register().await.expect("register alice");
    bob.register().await.expect("register bob");
    // A second registration of the name with another key is refused.
    let mallory = client(addr, "alice", 9);
    let err = mallory.register().await.expect_err("name taken");
    assert_eq!(err.code(), Some(ErrorCode::UsernameTaken));
    assert_eq!(
        mallory.sign_in().await.expect_err("wrong key").code(),
        Some(ErrorCode::InvalidSignature)
    );

    // They add each other, so each may see the other's presence.
    assert_eq!(
        alice.add_contact(&name("bob")).await.expect("add"),
        vec![name("bob")]
    );
    bob.add_contact(&name("alice")).await.expect("add");

    let mut b_ev = bob.events(vec![name("alice")]);
    until(&mut b_ev, |e| *e == RegistryEvent::Connected).await;
    let mut a_ev = alice.events(vec![name("bob")]);
    until(&mut a_ev, |e| *e == RegistryEvent::Connected).await;
    until(&mut b_ev, |e| {
        matches!(e, RegistryEvent::Server(ServerEvent::Presence(p)) if p.presence == Presence::Online)
    })
    .await;
    let found = alice.search("b", 10).await.expect("search");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].presence, Presence::Online);

    call_once(&alice, &mut a_ev, &mut b_ev, &bob).await;

    // Restart on the same address and database.
    server.shutdown().await.expect("shutdown");
    until(&mut a_ev, |e| {
        matches!(e, RegistryEvent::Disconnected { .. })
    })
    .await;
    until(&mut b_ev, |e| {
        matches!(e, RegistryEvent::Disconnected { .. })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let server = registry::Server::start(config(addr, &db))
        .await
        .expect("registry restarts");

    // Both come back without being told; bob's subscription to alice is
    // restored, so he sees her online again.
    until(&mut a_ev, |e| *e == RegistryEvent::Connected).await;
    until(&mut b_ev, |e| *e == RegistryEvent::Connected).await;
    until(&mut b_ev, |e| {
        matches!(e, RegistryEvent::Server(ServerEvent::Presence(p))
            if p.username.as_str() == "alice" && p.presence == Presence::Online)
    })
    .await;
    assert_eq!(
        bob.fetch(&name("alice")).await.expect("fetch").presence,
        Presence::Online
    );
    call_once(&alice, &mut a_ev, &mut b_ev, &bob).await;

    // A key rotation through the client; the new key signs in.
    let new_key = IdentityKeyPair::from_seed(&[3; 32]);
    alice.rotate_key(&new_key).await.expect("rotate");
    let alice2 = RegistryClient::new(&format!("http://{addr}"), name("alice"), Arc::new(new_key))
        .expect("client");
    alice2.sign_in().await.expect("new key signs in");
    assert_eq!(
        alice.sign_in().await.expect_err("old key refused").code(),
        Some(ErrorCode::InvalidSignature)
    );
    drop(a_ev);
    drop(b_ev);
    server.shutdown().await.expect("shutdown");
}
