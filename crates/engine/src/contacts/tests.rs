//! Unit tests of the contact book: pinning, verifying, storage and migration.

use super::*;
use crate::account::Outcome;
use proto::identity::IdentityKeyPair;

fn profile() -> (tempfile::TempDir, Profile) {
    let dir = tempfile::tempdir().expect("tmp");
    let p = Profile::open(dir.path().join("p")).expect("profile");
    (dir, p)
}

fn user(name: &str) -> Username {
    Username::parse(name).expect("username")
}

fn key(seed: u8) -> PublicIdentity {
    IdentityKeyPair::from_seed(&[seed; 32]).public().clone()
}

fn by_print(k: &PublicIdentity) -> Compared {
    Compared::fingerprint(&fingerprint_hex(k)).expect("64 hex digits")
}

#[test]
fn observe_pins_first_then_flags_a_change_until_the_pin_returns() {
    let (bob, a, b) = (user("bob"), key(1), key(2));
    let mut book = ContactBook::default();
    assert_eq!(book.trust(&bob), None);
    assert_eq!(book.observe(&bob, &a), Observation::FirstSeen);
    assert_eq!(book.trust(&bob), Some(Trust::Unverified));
    assert_eq!(book.observe(&bob, &a), Observation::Same);
    assert_eq!(book.observe(&bob, &b), Observation::Changed);
    assert_eq!(book.trust(&bob), Some(Trust::KeyChanged));
    assert_eq!(book.pinned(&bob), Some(&a), "a change never moves the pin");
    assert_eq!(book.get(&bob).and_then(Contact::pending), Some(&b));
    assert_eq!(book.observe(&bob, &b), Observation::Changed);
    // The pinned key showing again withdraws the change.
    assert_eq!(book.observe(&bob, &a), Observation::Same);
    assert_eq!(book.trust(&bob), Some(Trust::Unverified));
}

#[test]
fn verifying_takes_the_compared_key_only() {
    let me = IdentityKeyPair::from_seed(&[3; 32]);
    let (bob, genuine, substitute) = (user("bob"), key(1), key(2));
    let mut book = ContactBook::default();
    assert!(matches!(
        book.mark_verified(&bob, &by_print(&genuine)),
        Err(AccountError::NotAContact(_))
    ));
    book.observe(&bob, &genuine);
    assert!(matches!(
        book.mark_verified(&bob, &by_print(&substitute)),
        Err(AccountError::NotCompared(n, "fingerprint")) if n == "bob"
    ));
    assert_eq!(book.trust(&bob), Some(Trust::Unverified));
    // The digits of another pair of names do not vouch for bob's key.
    let shown = SafetyNumber::new("alice", me.public(), "carol", &genuine).digits();
    let wrong = Compared::safety_number(&shown, "alice", me.public()).expect("60 digits");
    assert!(book.mark_verified(&bob, &wrong).is_err());
    let shown = SafetyNumber::new("alice", me.public(), "bob", &genuine)
        .groups()
        .join(" ");
    let right = Compared::safety_number(&shown, "alice", me.public()).expect("60 digits");
    book.mark_verified(&bob, &right).expect("the compared key");
    assert_eq!(book.trust(&bob), Some(Trust::Verified));
}

#[test]
fn a_pending_change_blocks_verifying_and_is_accepted_only_as_compared() {
    let (bob, old, new, other) = (user("bob"), key(1), key(2), key(4));
    let mut book = ContactBook::default();
    book.observe(&bob, &old);
    book.mark_verified(&bob, &by_print(&old)).expect("verified");
    book.observe(&bob, &new);
    assert!(matches!(
        book.mark_verified(&bob, &by_print(&old)),
        Err(AccountError::KeyChanged(n)) if n == "bob"
    ));
    // The registry moved on to a third key after the number was shown.
    book.observe(&bob, &other);
    assert!(matches!(
        book.accept_change(&bob, &by_print(&new)),
        Err(AccountError::NotCompared(..))
    ));
    assert_eq!(book.trust(&bob), Some(Trust::KeyChanged));
    assert_eq!(book.pinned(&bob), Some(&old));
    book.accept_change(&bob, &by_print(&other))
        .expect("the compared key");
    assert_eq!(book.pinned(&bob), Some(&other));
    // The verification was of the old key.
    assert_eq!(book.trust(&bob), Some(Trust::Unverified));
    // Nothing pending: nothing to accept, nothing changes.
    book.accept_change(&bob, &by_print(&new)).expect("no-op");
    book.accept_change(&user("nobody"), &by_print(&new))
        .expect("no-op");
    assert_eq!(book.pinned(&bob), Some(&other));
}

#[test]
fn fingerprints_must_be_whole() {
    let full = fingerprint_hex(&key(3));
    for bad in [&full[..16], "", "zz", &format!("{full}0"), &"é".repeat(32)] {
        assert!(matches!(
            Compared::fingerprint(bad),
            Err(AccountError::BadCompared(_))
        ));
    }
    let spaced = full
        .to_uppercase()
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(
        KeyFingerprint::parse(&spaced).expect("spaces and case are fine"),
        KeyFingerprint::of(&key(3))
    );
    for bad in ["12345", &"1".repeat(59), &"x".repeat(60)] {
        assert!(matches!(
            Compared::safety_number(bad, "alice", &key(3)),
            Err(AccountError::BadCompared(_))
        ));
    }
}

#[test]
fn the_book_is_saved_privately_in_one_step_and_reads_back() {
    let (_d, p) = profile();
    assert_eq!(
        ContactBook::load(&p).expect("empty"),
        ContactBook::default()
    );
    let (bob, carol) = (user("bob"), user("carol"));
    ContactBook::update(&p, |b| {
        b.observe(&bob, &key(1));
        b.observe(&carol, &key(2));
        b.mark_verified(&bob, &by_print(&key(1)))?;
        b.observe(&carol, &key(5));
        Ok(())
    })
    .expect("update");
    let back = ContactBook::load(&p).expect("load");
    assert_eq!(back.trust(&bob), Some(Trust::Verified));
    assert_eq!(back.trust(&carol), Some(Trust::KeyChanged));
    assert_eq!(back.get(&carol).and_then(Contact::pending), Some(&key(5)));
    let names: Vec<_> = std::fs::read_dir(p.dir())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from(BOOK_FILE)],
        "no temporary left"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p.dir().join(BOOK_FILE))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A refused step writes nothing, not even the part before it.
    let before = p.read(BOOK_FILE).expect("read");
    let refused = ContactBook::update(&p, |b| {
        b.observe(&user("dave"), &key(6));
        b.accept_change(&carol, &by_print(&key(7)))
    });
    assert!(matches!(refused, Err(AccountError::NotCompared(..))));
    assert_eq!(p.read(BOOK_FILE).expect("read"), before);
}

#[test]
fn a_damaged_book_is_reported_and_left_alone() {
    let (_d, p) = profile();
    for bad in [
        &b"garbage"[..],
        br#"{"version":1,"contacts":{"bob":{"key":"00"}}}"#,
        br#"{"version":1,"contacts":{"Not A Name":{"key":"00"}}}"#,
        br#"{"version":2,"contacts":{}}"#,
    ] {
        p.write_secret(BOOK_FILE, bad).expect("write");
        assert!(matches!(
            ContactBook::load(&p),
            Err(AccountError::Corrupt { file: BOOK_FILE })
        ));
        assert!(ContactBook::update(&p, |_| Ok(())).is_err());
        assert_eq!(p.read(BOOK_FILE).expect("read").as_deref(), Some(bad));
    }
}

#[test]
fn chosen_contacts_are_the_verified_and_the_called() {
    let mut book = ContactBook::default();
    for (i, name) in ["bob", "carol", "dave"].into_iter().enumerate() {
        book.observe(&user(name), &key(i as u8 + 1));
    }
    book.mark_verified(&user("carol"), &by_print(&key(2)))
        .expect("verified");
    let call = |peer: &str, direction| HistoryEntry {
        call_id: "00".into(),
        peer: peer.into(),
        direction,
        started_at: 0,
        duration_s: 0,
        outcome: Outcome::Completed,
    };
    let history = [
        call("bob", Direction::Outgoing),
        call("dave", Direction::Incoming),
        call("erin", Direction::Outgoing),
    ];
    assert_eq!(book.chosen(&history), vec![user("bob"), user("carol")]);
}

/// Writes `contacts.json` and `trust.json` exactly as the CLI and the
/// app wrote them before the book.
fn old_profile(p: &Profile, pins: &[(&str, &PublicIdentity)], trust: Option<String>) {
    let pinned: Vec<String> = pins
        .iter()
        .map(|(n, k)| format!("    \"{n}\": \"{}\"", to_hex(k.as_bytes())))
        .collect();
    let contacts = format!("{{\n  \"pinned\": {{\n{}\n  }}\n}}", pinned.join(",\n"));
    p.write_secret(OLD_CONTACTS_FILE, contacts.as_bytes())
        .expect("contacts.json");
    if let Some(t) = trust {
        p.write_secret(OLD_TRUST_FILE, t.as_bytes())
            .expect("trust.json");
    }
}

#[test]
fn an_old_profile_is_migrated_once_and_its_files_kept() {
    let (_d, p) = profile();
    let (bob, carol, dave) = (key(1), key(2), key(3));
    let hex = |k: &PublicIdentity| to_hex(k.as_bytes());
    // bob verified; carol verified for an older key, then a change
    // seen; dave only pinned. The marks' hex may be upper case.
    let trust = format!(
        "{{\n  \"verified\": {{\n    \"bob\": \"{}\",\n    \"carol\": \"{}\"\n  }},\n  \
         \"changed\": {{\n    \"carol\": \"{}\"\n  }}\n}}",
        hex(&bob).to_uppercase(),
        hex(&key(8)),
        hex(&key(9)),
    );
    old_profile(
        &p,
        &[("bob", &bob), ("carol", &carol), ("dave", &dave)],
        Some(trust.clone()),
    );
    let old_contacts = p.read(OLD_CONTACTS_FILE).expect("read");

    let book = ContactBook::load(&p).expect("migrates");
    assert_eq!(book.trust(&user("bob")), Some(Trust::Verified));
    assert_eq!(book.trust(&user("carol")), Some(Trust::KeyChanged));
    assert_eq!(book.pinned(&user("carol")), Some(&carol));
    assert_eq!(
        book.get(&user("carol")).and_then(Contact::pending),
        Some(&key(9))
    );
    assert_eq!(book.trust(&user("dave")), Some(Trust::Unverified));
    assert_eq!(book.names().count(), 3);

    // The book is written; the old files are kept, renamed, unchanged.
    assert!(p.read(BOOK_FILE).expect("read").is_some());
    assert_eq!(p.read(OLD_CONTACTS_FILE).expect("read"), None);
    assert_eq!(p.read(OLD_TRUST_FILE).expect("read"), None);
    assert_eq!(
        p.read("contacts.json.migrated").expect("read"),
        old_contacts
    );
    assert_eq!(
        p.read("trust.json.migrated").expect("read").as_deref(),
        Some(trust.as_bytes())
    );
    // Once: later changes are the book's, and an old file that shows
    // up again (an older version run on the profile) is not read.
    ContactBook::update(&p, |b| b.accept_change(&user("carol"), &by_print(&key(9))))
        .expect("accept");
    old_profile(&p, &[("erin", &key(5))], None);
    let again = ContactBook::load(&p).expect("load");
    assert_eq!(again.pinned(&user("carol")), Some(&key(9)));
    assert!(!again.contains(&user("erin")));
}

#[test]
fn loaders_racing_on_an_old_profile_all_see_the_migrated_pins() {
    let (_d, p) = profile();
    let pins: Vec<(String, PublicIdentity)> = (0..20u8)
        .map(|i| (format!("user{i}"), key(i + 1)))
        .collect();
    let refs: Vec<(&str, &PublicIdentity)> = pins.iter().map(|(n, k)| (n.as_str(), k)).collect();
    old_profile(&p, &refs, Some("{}".into()));
    let books: Vec<ContactBook> = std::thread::scope(|s| {
        let loaders: Vec<_> = (0..4)
            .map(|_| s.spawn(|| ContactBook::load(&p).expect("load")))
            .collect();
        loaders
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    for book in books {
        assert_eq!(book.names().count(), 20);
    }
    assert_eq!(ContactBook::load(&p).expect("load").names().count(), 20);
}

#[test]
fn a_cli_profile_without_trust_marks_migrates() {
    let (_d, p) = profile();
    old_profile(&p, &[("bob", &key(1))], None);
    let book = ContactBook::load(&p).expect("migrates");
    assert_eq!(book.trust(&user("bob")), Some(Trust::Unverified));
    assert_eq!(p.read("trust.json.migrated").expect("read"), None);
    assert!(p.read("contacts.json.migrated").expect("read").is_some());
}

#[test]
fn a_damaged_old_file_stops_the_migration_and_is_left_alone() {
    let (_d, p) = profile();
    old_profile(&p, &[("bob", &key(1))], Some("{not json".into()));
    assert!(matches!(
        ContactBook::load(&p),
        Err(AccountError::Corrupt {
            file: OLD_TRUST_FILE
        })
    ));
    assert_eq!(p.read(BOOK_FILE).expect("read"), None);
    assert!(p.read(OLD_CONTACTS_FILE).expect("read").is_some());
    p.write_secret(OLD_TRUST_FILE, b"{}").expect("write");
    p.write_secret(OLD_CONTACTS_FILE, br#"{"pinned":{"bob":"zz"}}"#)
        .expect("write");
    assert!(matches!(
        ContactBook::load(&p),
        Err(AccountError::Corrupt {
            file: OLD_CONTACTS_FILE
        })
    ));
    assert_eq!(p.read(BOOK_FILE).expect("read"), None);
}

#[test]
fn trust_serialises_with_the_ui_contract_names() {
    // The desktop shell sends this type to the UI as it is.
    for (trust, name) in [
        (Trust::Unverified, "\"unverified\""),
        (Trust::Verified, "\"verified\""),
        (Trust::KeyChanged, "\"key-changed\""),
    ] {
        assert_eq!(serde_json::to_string(&trust).expect("serialises"), name);
        assert_eq!(serde_json::from_str::<Trust>(name).ok(), Some(trust));
    }
}
