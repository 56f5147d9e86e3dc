//! `Phone::shutdown` against a real registry: when it returns, the call it
//! ended is over at the registry too, so a front end may exit at once
//! without leaving both users "in a call" for the disconnect grace.

#[path = "common/phones.rs"]
mod phones;

use engine::phone::{CallState, EndReason};
use phones::{Quiet, User, client, registry, snapshot};
use proto::signaling::{self, Username};

/// `name`'s phone, online; `fresh`: register the account first.
async fn user(url: &str, dir: &std::path::Path, name: &str, seed: u8, fresh: bool) -> User {
    phones::user(url, dir, name, seed, Quiet::default(), fresh).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_once_the_registry_has_the_call_ended() {
    let dir = tempfile::tempdir().expect("tmp");
    // The default disconnect grace (30 s): only a delivered step ends the
    // call within this test.
    let (_server, url) = registry(dir.path()).await;
    let alice = user(&url, dir.path(), "alice", 1, true).await;
    let mut bob = user(&url, dir.path(), "bob", 2, true).await;
    let bob_name = Username::parse("bob").expect("name");

    // Quitting while it rings out: cancelled at the registry by the time
    // shutdown returns, and bob stops ringing (a missed call, to him).
    let ringing = alice.phone.place(bob_name.clone()).await.expect("rings");
    let id = ringing.id.clone().expect("the registry named the call");
    snapshot(&mut bob, "ringing", |s| s.state == CallState::RingingIn).await;
    alice.phone.shutdown().await;
    let status = client(&url, "alice", 1).status(&id).await.expect("status");
    assert_eq!(status.state, signaling::CallState::Cancelled);
    let b = snapshot(&mut bob, "ended", |s| s.state == CallState::Ended).await;
    assert_eq!(b.end.map(|e| e.0), Some(EndReason::Missed));
    // The stopped phone takes no more commands.
    assert!(alice.phone.place(bob_name.clone()).await.is_err());

    // Quitting in a call: the media stops, the hang-up is answered, and
    // only then does shutdown return.
    let mut alice = user(&url, dir.path(), "alice", 1, false).await;
    let ringing = alice.phone.place(bob_name).await.expect("rings");
    let id = ringing.id.clone().expect("the registry named the call");
    let inc = snapshot(&mut bob, "ringing", |s| s.state == CallState::RingingIn).await;
    bob.phone.accept(inc.call).await.expect("answers");
    snapshot(&mut alice, "active", |s| s.state == CallState::Active).await;
    alice.phone.shutdown().await;
    let status = client(&url, "alice", 1).status(&id).await.expect("status");
    assert_eq!(status.state, signaling::CallState::Ended);
    let a = snapshot(&mut alice, "ended", |s| s.state == CallState::Ended).await;
    assert_eq!(a.end.map(|e| e.0), Some(EndReason::HungUp));
    bob.phone.shutdown().await;
}
