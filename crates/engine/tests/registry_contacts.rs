//! The client's contact-list calls against a real registry: a contact
//! sees our presence live once added and loses it once removed, and
//! `ensure_contacts` adds only what the registry's list lacks.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{name, until};
use engine::registry_client::{RegistryClient, RegistryEvent};
use proto::identity::IdentityKeyPair;
use proto::signaling::{ErrorCode, Presence, ServerEvent};

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

/// A registry with its database in `dir`, and alice and bob registered
/// on it.
async fn alice_and_bob(
    dir: &tempfile::TempDir,
) -> (registry::Server, Arc<RegistryClient>, Arc<RegistryClient>) {
    let c = testkit::registry_config(dir.path());
    let server = registry::Server::start(c).await.expect("registry starts");
    let alice = client(server.addr, "alice", 1);
    let bob = client(server.addr, "bob", 2);
    alice.register().await.expect("register alice");
    bob.register().await.expect("register bob");
    (server, alice, bob)
}

fn presence_of(e: &RegistryEvent, who: &str) -> Option<Presence> {
    match e {
        RegistryEvent::Server(ServerEvent::Presence(p)) if p.username.as_str() == who => {
            Some(p.presence)
        }
        _ => None,
    }
}

#[tokio::test]
async fn a_contact_sees_presence_only_while_on_the_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, alice, bob) = alice_and_bob(&dir).await;

    let mut a_ev = alice.events(vec![]);
    until(&mut a_ev, |e| *e == RegistryEvent::Connected).await;
    // Bob watches alice, who has not added him: offline, never seen.
    let mut b_ev = bob.events(vec![name("alice")]);
    let first = until(&mut b_ev, |e| presence_of(e, "alice").is_some()).await;
    assert_eq!(presence_of(&first, "alice"), Some(Presence::Offline));
    assert_eq!(
        bob.fetch(&name("alice")).await.expect("fetch").presence,
        Presence::Offline
    );

    // Alice adds him (twice: the second changes nothing) and he sees her.
    assert_eq!(
        alice.add_contact(&name("bob")).await.expect("add"),
        vec![name("bob")]
    );
    assert_eq!(
        alice.add_contact(&name("bob")).await.expect("again"),
        vec![name("bob")]
    );
    until(&mut b_ev, |e| {
        presence_of(e, "alice") == Some(Presence::Online)
    })
    .await;
    assert_eq!(alice.contacts().await.expect("list"), vec![name("bob")]);

    // Removed, he sees her as offline again while she is still connected.
    assert!(
        alice
            .remove_contact(&name("bob"))
            .await
            .expect("remove")
            .is_empty()
    );
    until(&mut b_ev, |e| {
        presence_of(e, "alice") == Some(Presence::Offline)
    })
    .await;
    assert_eq!(
        bob.fetch(&name("alice")).await.expect("fetch").presence,
        Presence::Offline
    );

    // ensure_contacts adds the missing ones, skipping names nobody holds.
    alice
        .ensure_contacts(&[name("bob"), name("nobody"), name("alice")])
        .await
        .expect("ensure");
    assert_eq!(alice.contacts().await.expect("list"), vec![name("bob")]);
    until(&mut b_ev, |e| {
        presence_of(e, "alice") == Some(Presence::Online)
    })
    .await;
    let err = alice
        .add_contact(&name("nobody"))
        .await
        .expect_err("unknown name");
    assert_eq!(err.code(), Some(ErrorCode::UnknownUser));
    drop((a_ev, b_ev));
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn calling_someone_adds_them_but_being_rung_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, alice, bob) = alice_and_bob(&dir).await;
    let mut b_ev = bob.events(vec![]);
    until(&mut b_ev, |e| *e == RegistryEvent::Connected).await;

    let profile = engine::profile::Profile::open(dir.path().join("alice")).expect("profile");
    let identity = IdentityKeyPair::from_seed(&[1; 32]);
    let ringing = engine::dial::place_call(&alice, &profile, &identity, &name("bob"), vec![])
        .await
        .expect("bob rings");
    until(&mut b_ev, |e| {
        matches!(e, RegistryEvent::Server(ServerEvent::IncomingCall { .. }))
    })
    .await;
    assert_eq!(alice.contacts().await.expect("list"), vec![name("bob")]);
    // The callee shares nothing with the caller for having been rung.
    assert!(bob.contacts().await.expect("list").is_empty());
    alice.hangup(&ringing.call_id).await.expect("hang up");
    // What a front end re-adds when it connects: pinned contacts the user
    // chose. A pin alone (no call in the history, not verified) is not a
    // choice; a verified one is.
    assert!(
        engine::dial::chosen_contacts(&profile, [])
            .expect("chosen")
            .is_empty()
    );
    assert_eq!(
        engine::dial::chosen_contacts(&profile, ["bob".to_owned(), "carol".to_owned()])
            .expect("chosen"),
        vec![name("bob")],
        "carol is not pinned"
    );
    drop(b_ev);
    server.shutdown().await.expect("shutdown");
}
