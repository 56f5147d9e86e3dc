//! `pqvoice trust` pins a key only if it is the one the user compared.
//!
//! A registry can serve the genuine key while the user reads out the
//! safety number, then serve its own a second later. Here the key served
//! for carol changes between `safety-number` and `trust` (carol's name is
//! moved to a new key, as the registry allows), and `trust` with the
//! digits that were shown must refuse and pin nothing. `safety-number`
//! labels which key it describes, both when the pin and the registry
//! differ.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use engine::account::fingerprint_hex;
use engine::contacts::{ContactBook, Trust};
use engine::profile::Profile;
use engine::registry_client::RegistryClient;
use proto::identity::IdentityKeyPair;
use proto::signaling::Username;

fn pqvoice(profile: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pqvoice"))
        .arg("--profile")
        .arg(profile)
        .args(args)
        .output()
        .expect("the pqvoice binary runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The values printed after `label` (e.g. "safety number"), in order.
fn values(text: &str, label: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(label))
        .map(|v| v.trim().to_owned())
        .collect()
}

fn book(profile: &Path) -> ContactBook {
    ContactBook::load(&Profile::open(profile).expect("profile")).expect("contact book")
}

fn pinned(profile: &Path, name: &str) -> Option<proto::identity::PublicIdentity> {
    book(profile)
        .pinned(&Username::parse(name).expect("name"))
        .cloned()
}

fn trust_of(profile: &Path, name: &str) -> Option<Trust> {
    book(profile).trust(&Username::parse(name).expect("name"))
}

#[test]
fn trust_refuses_a_key_other_than_the_one_compared() {
    let server = common::registry();
    let (rt, dir, url) = (&server.rt, &server.dir, server.url.clone());
    let alice = dir.path().join("alice");
    stdout(&pqvoice(&alice, &["--registry", &url, "register", "alice"]));

    let carol_name = Username::parse("carol").expect("name");
    let keys: Vec<IdentityKeyPair> = (1..=3u8)
        .map(|i| IdentityKeyPair::from_seed(&[i; 32]))
        .collect();
    let carol_with = |i: usize| {
        RegistryClient::new(
            &url,
            carol_name.clone(),
            Arc::new(IdentityKeyPair::from_seed(&[i as u8 + 1; 32])),
        )
        .expect("client")
    };
    rt.block_on(carol_with(0).register())
        .expect("carol registers");

    // Alice looks at the number of the key served now (not pinned yet)...
    let shown = stdout(&pqvoice(&alice, &["safety-number", "carol"]));
    assert!(shown.contains("not pinned yet"), "{shown}");
    let first = values(&shown, "safety number");
    let first_print = values(&shown, "fingerprint");
    assert_eq!(first.len(), 1, "{shown}");
    assert_eq!(first_print, vec![fingerprint_hex(keys[0].public())]);
    assert!(
        pinned(&alice, "carol").is_none(),
        "safety-number pins nothing"
    );

    // ...and before she trusts it, the registry serves another key.
    rt.block_on(carol_with(0).rotate_key(&keys[1]))
        .expect("carol's name moves to a new key");
    for args in [
        ["trust", "carol", "--safety-number", first[0].as_str()],
        ["trust", "carol", "--fingerprint", first_print[0].as_str()],
    ] {
        let out = pqvoice(&alice, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "trust pinned a key not compared");
        assert!(err.contains("is not the one whose"), "{err}");
        assert!(err.contains("nothing was pinned"), "{err}");
        assert!(pinned(&alice, "carol").is_none());
    }

    // The number of the key served now pins that key.
    let shown = stdout(&pqvoice(&alice, &["safety-number", "carol"]));
    let second = values(&shown, "safety number");
    assert_ne!(second, first);
    stdout(&pqvoice(
        &alice,
        &["trust", "carol", "--safety-number", second[0].as_str()],
    ));
    assert_eq!(pinned(&alice, "carol").as_ref(), Some(keys[1].public()));
    assert_eq!(trust_of(&alice, "carol"), Some(Trust::Verified));
    let shown = stdout(&pqvoice(&alice, &["safety-number", "carol"]));
    assert!(
        shown.contains("pinned key (the registry serves the same)"),
        "{shown}"
    );
    assert_eq!(values(&shown, "safety number"), second);

    // When pin and registry differ, both numbers are shown, each labelled.
    rt.block_on(carol_with(1).rotate_key(&keys[2]))
        .expect("carol's name moves again");
    let shown = stdout(&pqvoice(&alice, &["safety-number", "carol"]));
    assert!(shown.contains("PINNED key"), "{shown}");
    assert!(shown.contains("DIFFERENT key"), "{shown}");
    let both = values(&shown, "safety number");
    assert_eq!(both.len(), 2, "{shown}");
    assert_eq!(both[0], second[0], "the pinned key's number comes first");
    assert_eq!(
        values(&shown, "fingerprint"),
        vec![
            fingerprint_hex(keys[1].public()),
            fingerprint_hex(keys[2].public())
        ]
    );
    // A malformed comparison is refused before anything is asked.
    let out = pqvoice(&alice, &["trust", "carol", "--safety-number", "12345"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("60 digits"));
    assert_eq!(pinned(&alice, "carol").as_ref(), Some(keys[1].public()));
    // The old key's number does not accept the new key...
    let out = pqvoice(
        &alice,
        &["trust", "carol", "--safety-number", second[0].as_str()],
    );
    assert!(!out.status.success(), "the old number accepted a new key");
    assert_eq!(pinned(&alice, "carol").as_ref(), Some(keys[1].public()));
    // ...the new key's number does, and the new key is the verified one.
    stdout(&pqvoice(
        &alice,
        &["trust", "carol", "--safety-number", both[1].as_str()],
    ));
    assert_eq!(pinned(&alice, "carol").as_ref(), Some(keys[2].public()));
    assert_eq!(trust_of(&alice, "carol"), Some(Trust::Verified));
}
