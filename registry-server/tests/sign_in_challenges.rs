//! Sign-in challenges hold no state until redeemed: asking for many of
//! them in someone's name does not lock that person out, and each one is
//! good once, for one name, until it expires. Real server on a loopback
//! port.

mod common;

use std::time::Duration;

use common::*;
use proto::signaling::Challenge;

#[tokio::test]
async fn a_flood_of_challenges_for_a_name_does_not_lock_its_owner_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(config(&dir.path().join("reg.sqlite3"))).await;
    let alice = User::new(&server, "alice", 1);
    alice.register().await;
    // Alice fetches a challenge; before she answers, someone asks for a
    // thousand more in her name (the old registry kept four per user, so
    // hers was gone after the fifth).
    let hers = alice.challenge().await;
    let flooder = User::new(&server, "alice", 99);
    let mut flood = Vec::new();
    for _ in 0..1000 {
        flood.push(flooder.challenge().await);
    }
    let (s, v) = alice.redeem(&hers, &alice.key, &alice.origin()).await;
    assert_eq!(s, 200, "{v}");
    // A fresh one works as well, and the flood's challenges are no use to
    // anyone without alice's key.
    let (s, v) = alice
        .redeem(&alice.challenge().await, &alice.key, &alice.origin())
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = flooder
        .redeem(&flood[0], &flooder.key, &flooder.origin())
        .await;
    assert_eq!((s, v["code"].as_str()), (401, Some("invalid_signature")));
}

#[tokio::test]
async fn a_challenge_is_good_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(config(&dir.path().join("reg.sqlite3"))).await;
    let alice = User::new(&server, "alice", 1);
    alice.register().await;
    let ch = alice.challenge().await;
    let (s, v) = alice.redeem(&ch, &alice.key, &alice.origin()).await;
    assert_eq!(s, 200, "{v}");
    // The same signed request, replayed.
    let (s, v) = alice.redeem(&ch, &alice.key, &alice.origin()).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("invalid_challenge")));
    // A wrong signature burns a challenge too: one attempt each.
    let ch = alice.challenge().await;
    let wrong = proto::identity::IdentityKeyPair::from_seed(&[7; 32]);
    let (s, _) = alice.redeem(&ch, &wrong, &alice.origin()).await;
    assert_eq!(s, 401);
    let (s, v) = alice.redeem(&ch, &alice.key, &alice.origin()).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("invalid_challenge")));
}

#[tokio::test]
async fn a_challenge_for_one_name_is_refused_for_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(config(&dir.path().join("reg.sqlite3"))).await;
    let alice = User::new(&server, "alice", 1);
    let bob = User::new(&server, "bob", 2);
    alice.register().await;
    bob.register().await;
    let for_alice = alice.challenge().await;
    let (s, v) = bob.redeem(&for_alice, &bob.key, &bob.origin()).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("invalid_challenge")));
    // Made-up bytes of the right size are refused the same way.
    let made_up = Challenge::new(vec![0x42; proto::signaling::CHALLENGE_LEN]).expect("size");
    let (s, v) = bob.redeem(&made_up, &bob.key, &bob.origin()).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("invalid_challenge")));
}

#[tokio::test]
async fn an_expired_challenge_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(&dir.path().join("reg.sqlite3"));
    c.challenge_ttl = Duration::from_secs(1);
    let server = start(c).await;
    let alice = User::new(&server, "alice", 1);
    alice.register().await;
    let ch = alice.challenge().await;
    // Valid through the second it expires at, refused after it.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (s, v) = alice.redeem(&ch, &alice.key, &alice.origin()).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("invalid_challenge")));
    let (s, v) = alice
        .redeem(&alice.challenge().await, &alice.key, &alice.origin())
        .await;
    assert_eq!(s, 200, "{v}");
}
