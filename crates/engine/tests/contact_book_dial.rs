//! A key the registry serves for a contact goes through the contact book:
//! pinned on first use, and a different one later is refused and kept as
//! the pending change (the pin stays), so either front end shows the
//! contact as changed and the user can compare the new key and accept it.

use std::sync::Arc;

use engine::contacts::{Compared, ContactBook, Trust, fingerprint_hex};
use engine::dial::{DialError, contact_key};
use engine::profile::Profile;
use engine::registry_client::RegistryClient;
use proto::identity::IdentityKeyPair;
use testkit::name;

#[tokio::test]
async fn a_changed_key_is_refused_and_kept_pending_until_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = testkit::registry_config(dir.path());
    let server = registry::Server::start(c).await.expect("registry starts");
    let url = format!("http://{}", server.addr);
    let client = |user: &str, seed: u8| {
        RegistryClient::new(
            &url,
            name(user),
            Arc::new(IdentityKeyPair::from_seed(&[seed; 32])),
        )
        .expect("client")
    };
    let alice = client("alice", 1);
    let bob = client("bob", 2);
    alice.register().await.expect("register alice");
    bob.register().await.expect("register bob");
    let (old, new) = (
        IdentityKeyPair::from_seed(&[2; 32]),
        IdentityKeyPair::from_seed(&[3; 32]),
    );
    let profile = Profile::open(dir.path().join("alice")).expect("profile");
    let book = || ContactBook::load(&profile).expect("book");

    let (key, first) = contact_key(&alice, &profile, &name("bob"))
        .await
        .expect("first use");
    assert!(first);
    assert_eq!(&key, old.public());
    assert_eq!(book().trust(&name("bob")), Some(Trust::Unverified));

    bob.rotate_key(&new)
        .await
        .expect("bob's name moves to a new key");
    let refused = contact_key(&alice, &profile, &name("bob")).await;
    assert!(
        matches!(&refused, Err(e) if e.is_key_change()),
        "{refused:?}"
    );
    let seen = book();
    assert_eq!(seen.trust(&name("bob")), Some(Trust::KeyChanged));
    assert_eq!(seen.pinned(&name("bob")), Some(old.public()));
    assert_eq!(
        seen.get(&name("bob")).and_then(|c| c.pending()),
        Some(new.public())
    );

    let compared = Compared::fingerprint(&fingerprint_hex(new.public())).expect("hex");
    ContactBook::update(&profile, |b| b.accept_change(&name("bob"), &compared)).expect("accepted");
    let (key, first) = contact_key(&alice, &profile, &name("bob"))
        .await
        .expect("the accepted key");
    assert!(!first);
    assert_eq!(&key, new.public());
    // Someone the registry does not know is not pinned.
    assert!(matches!(
        contact_key(&alice, &profile, &name("nobody")).await,
        Err(DialError::Registry(_))
    ));
    assert!(!book().contains(&name("nobody")));
    server.shutdown().await.expect("shutdown");
}
