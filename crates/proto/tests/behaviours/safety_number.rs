//! The safety number is the same on both phones, has 60 digits in 12
//! groups, and changes when either key or name changes.

use crate::common::*;
use proto::safety::SafetyNumber;

#[test]
fn both_sides_compute_the_same_number() {
    let (a, b) = (alice(), bob());
    let at_alice = SafetyNumber::new("alice", a.public(), "bob", b.public());
    let at_bob = SafetyNumber::new("bob", b.public(), "alice", a.public());
    assert_eq!(at_alice, at_bob);
    assert_eq!(at_alice.to_string(), at_bob.to_string());
    let digits = at_alice.digits();
    assert_eq!(digits.len(), 60);
    assert!(digits.bytes().all(|c| c.is_ascii_digit()));
    let groups = at_alice.groups();
    assert_eq!(groups.len(), 12);
    assert!(groups.iter().all(|g| g.len() == 5));
    assert_eq!(groups.concat(), digits);
}

#[test]
fn a_substituted_key_or_name_changes_the_number() {
    let (a, b, m) = (alice(), bob(), mallory());
    let genuine = SafetyNumber::new("alice", a.public(), "bob", b.public());
    let substituted = SafetyNumber::new("alice", a.public(), "bob", m.public());
    assert_ne!(genuine, substituted);
    let renamed = SafetyNumber::new("alice", a.public(), "bobby", b.public());
    assert_ne!(genuine, renamed);
    // Only the changed side's half differs: the other half is still there.
    let g = genuine.groups();
    let s = substituted.groups();
    let alice_half_kept =
        g[..6] == s[..6] || g[..6] == s[6..] || g[6..] == s[..6] || g[6..] == s[6..];
    assert!(alice_half_kept);
}
