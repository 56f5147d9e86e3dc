//! The contact book: every contact's pinned identity key and how far it is
//! trusted, in one file shared by the CLI and the desktop app.
//!
//! Per contact the book keeps three things:
//! - the **pinned** key, taken on first use ([`ContactBook::observe`]);
//! - whether the user **verified** that key (compared the safety number or
//!   the fingerprint with the contact); a verification belongs to the key,
//!   so it ends when another key is pinned;
//! - a **pending** key: one the registry or the peer showed that differs
//!   from the pin. Calls with the contact stay blocked until the user
//!   accepts it ([`ContactBook::accept_change`]) or the old key comes back.
//!
//! Every step that makes a key trusted takes what the user compared
//! ([`Compared`]) and refuses a key that does not match it. A registry that
//! showed the genuine key while the user read out the digits, and serves
//! its own a second later, therefore gets nothing pinned or verified. That
//! check exists here only.
//!
//! The book is `contact-book.json` in the profile (0600, replaced in one
//! atomic write). Profiles from before it kept the pins in `contacts.json`
//! and, in the app, the verified and changed marks in `trust.json`; the
//! first [`ContactBook::load`] folds both into the book, writes it, and
//! renames the old files to `*.migrated` (left readable, never read again).
//!
//! Within one process, read-modify-write ([`ContactBook::update`]) and the
//! migration are serialised. Two processes on one profile at once (the CLI
//! beside the app) are not: the last write wins, though never half of one.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use proto::identity::PublicIdentity;
use proto::safety::SafetyNumber;
use proto::signaling::Username;
use serde::{Deserialize, Serialize};

use crate::account::{AccountError, Direction, HistoryEntry, from_hex, to_hex};
use crate::profile::Profile;

/// The book's file in the profile.
pub const BOOK_FILE: &str = "contact-book.json";
/// The pins of profiles from before the book (CLI and app).
pub const OLD_CONTACTS_FILE: &str = "contacts.json";
/// The app's trust marks from before the book.
pub const OLD_TRUST_FILE: &str = "trust.json";
/// What an old file is renamed to once it is migrated: `<name>.migrated`.
pub const MIGRATED_SUFFIX: &str = ".migrated";

/// Format version of [`BOOK_FILE`].
const BOOK_VERSION: u32 = 1;

/// Serialises read-modify-write of the book within this process, so that
/// two tasks updating different contacts do not lose one another's change.
static UPDATE: Mutex<()> = Mutex::new(());

/// Serialises migrations within this process: a second loader must find
/// the book the first one wrote, not old files half renamed (taken after
/// [`UPDATE`] when both are held).
static MIGRATE: Mutex<()> = Mutex::new(());

/// The SHA-256 fingerprint of an identity key: what a user compares when
/// they compare keys rather than safety numbers.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyFingerprint([u8; 32]);

/// Hex digits of a whole fingerprint.
const FINGERPRINT_HEX_DIGITS: usize = 64;
/// Digits of a whole safety number.
const SAFETY_DIGITS: usize = 60;

impl KeyFingerprint {
    /// The fingerprint of `key`.
    pub fn of(key: &PublicIdentity) -> Self {
        Self(key.fingerprint())
    }

    /// A fingerprint as a user types it: spaces and colons between the
    /// digits are allowed, case does not matter, and all 64 digits are
    /// needed (a prefix would be far easier to match with a key of one's
    /// own).
    pub fn parse(text: &str) -> Result<Self, AccountError> {
        let hex: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ':')
            .collect();
        let bad = || AccountError::BadCompared("a fingerprint has 64 hex digits (0-9, a-f)");
        if hex.len() != FINGERPRINT_HEX_DIGITS {
            return Err(bad());
        }
        let bytes = from_hex(&hex).ok_or_else(bad)?;
        Ok(Self(bytes.try_into().map_err(|_| bad())?))
    }

    /// Lower-case hex, 64 digits.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
}

impl fmt::Display for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyFingerprint({self})")
    }
}

/// The whole fingerprint of an identity key in lower-case hex, as shown to
/// users.
pub fn fingerprint_hex(key: &PublicIdentity) -> String {
    KeyFingerprint::of(key).to_hex()
}

/// What the user compared before trusting a contact's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compared {
    /// The key's whole fingerprint.
    Fingerprint(KeyFingerprint),
    /// The 60-digit safety number shared with the contact.
    SafetyNumber {
        /// The 60 digits.
        digits: String,
        /// Our username.
        me: String,
        /// Our identity key (boxed: it is kilobytes).
        mine: Box<PublicIdentity>,
    },
}

impl Compared {
    /// A fingerprint as the user gives it ([`KeyFingerprint::parse`]).
    pub fn fingerprint(text: &str) -> Result<Self, AccountError> {
        KeyFingerprint::parse(text).map(Self::Fingerprint)
    }

    /// A safety number as the user gives it (spaces allowed), computed
    /// between `me` with key `mine` and the contact.
    pub fn safety_number(
        text: &str,
        me: &str,
        mine: &PublicIdentity,
    ) -> Result<Self, AccountError> {
        let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() != SAFETY_DIGITS || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(AccountError::BadCompared(
                "a safety number has 60 digits (12 groups of 5)",
            ));
        }
        Ok(Self::SafetyNumber {
            digits,
            me: me.to_owned(),
            mine: Box::new(mine.clone()),
        })
    }

    /// Ok if `key`, as the key of `name`, is what was compared.
    pub fn check(&self, name: &str, key: &PublicIdentity) -> Result<(), AccountError> {
        let (matches, what) = match self {
            Compared::Fingerprint(print) => (*print == KeyFingerprint::of(key), "fingerprint"),
            Compared::SafetyNumber { digits, me, mine } => (
                *digits == SafetyNumber::new(me, mine, name, key).digits(),
                "safety number",
            ),
        };
        if matches {
            Ok(())
        } else {
            Err(AccountError::NotCompared(name.to_owned(), what))
        }
    }
}

/// What a key shown for a contact means, from [`ContactBook::observe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// The contact was new; the key is now pinned.
    FirstSeen,
    /// The key is the pinned one.
    Same,
    /// The key differs from the pin; it is kept as the pending change and
    /// calls with the contact are blocked.
    Changed,
}

/// How far a contact's key is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Pinned on first use; nothing compared yet.
    Unverified,
    /// The user compared the pinned key with the contact.
    Verified,
    /// Another key than the pinned one was shown and not accepted yet.
    KeyChanged,
}

/// One contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pinned: PublicIdentity,
    verified: bool,
    pending: Option<PublicIdentity>,
}

impl Contact {
    /// The pinned key.
    pub fn pinned(&self) -> &PublicIdentity {
        &self.pinned
    }

    /// The differing key waiting for the user's decision, if any.
    pub fn pending(&self) -> Option<&PublicIdentity> {
        self.pending.as_ref()
    }

    /// True if the user verified the pinned key.
    pub fn verified(&self) -> bool {
        self.verified
    }

    /// The contact's trust; a pending change outranks a verification.
    pub fn trust(&self) -> Trust {
        if self.pending.is_some() {
            Trust::KeyChanged
        } else if self.verified {
            Trust::Verified
        } else {
            Trust::Unverified
        }
    }
}

/// Every contact of the profile, by username.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactBook {
    contacts: BTreeMap<Username, Contact>,
}

impl ContactBook {
    /// Reads the book, migrating a profile from before it on first use
    /// (see the module doc). A damaged file is an error and is left as it
    /// is, never replaced by an empty book.
    pub fn load(profile: &Profile) -> Result<Self, AccountError> {
        match profile.read(BOOK_FILE)? {
            Some(bytes) => Self::decode(&bytes),
            None => migrate(profile),
        }
    }

    /// Writes the book in one atomic step (mode 0600).
    pub fn save(&self, profile: &Profile) -> Result<(), AccountError> {
        let stored = StoredBook {
            version: BOOK_VERSION,
            contacts: self
                .contacts
                .iter()
                .map(|(name, c)| {
                    let entry = StoredContact {
                        key: to_hex(c.pinned.as_bytes()),
                        verified: c.verified,
                        pending: c.pending.as_ref().map(|k| to_hex(k.as_bytes())),
                    };
                    (name.clone(), entry)
                })
                .collect(),
        };
        let bytes = serde_json::to_vec_pretty(&stored).map_err(|_| corrupt())?;
        profile.write_secret(BOOK_FILE, &bytes)?;
        Ok(())
    }

    /// Loads the book, lets `change` work on it and saves it if `change`
    /// succeeded and changed something. On an error nothing is written, so
    /// a refused step leaves no half of itself behind. Updates within this
    /// process are serialised.
    pub fn update<T>(
        profile: &Profile,
        change: impl FnOnce(&mut Self) -> Result<T, AccountError>,
    ) -> Result<T, AccountError> {
        // A panic while holding the lock left no partial write (saving is
        // atomic), so the lock is usable after one.
        let _guard = UPDATE.lock().unwrap_or_else(|p| p.into_inner());
        let mut book = Self::load(profile)?;
        let before = book.clone();
        let out = change(&mut book)?;
        if book != before {
            book.save(profile)?;
        }
        Ok(out)
    }

    /// The contact `name`, if it is one.
    pub fn get(&self, name: &Username) -> Option<&Contact> {
        self.contacts.get(name)
    }

    /// The pinned key of `name`, if it is a contact.
    pub fn pinned(&self, name: &Username) -> Option<&PublicIdentity> {
        self.get(name).map(Contact::pinned)
    }

    /// The trust of `name`; `None` if it is not a contact.
    pub fn trust(&self, name: &Username) -> Option<Trust> {
        self.get(name).map(Contact::trust)
    }

    /// True if `name` is a contact.
    pub fn contains(&self, name: &Username) -> bool {
        self.contacts.contains_key(name)
    }

    /// The contacts' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &Username> {
        self.contacts.keys()
    }

    /// Records that `key` was shown as the key of `name` (by the registry
    /// or in a peer's signed offer): pinned on first use, a pending change
    /// when it differs from the pin, and a pending change dropped when the
    /// pinned key shows again.
    pub fn observe(&mut self, name: &Username, key: &PublicIdentity) -> Observation {
        match self.contacts.get_mut(name) {
            None => {
                self.contacts.insert(
                    name.clone(),
                    Contact {
                        pinned: key.clone(),
                        verified: false,
                        pending: None,
                    },
                );
                Observation::FirstSeen
            }
            Some(c) if c.pinned == *key => {
                c.pending = None;
                Observation::Same
            }
            Some(c) => {
                if c.pending.as_ref() != Some(key) {
                    c.pending = Some(key.clone());
                }
                Observation::Changed
            }
        }
    }

    /// Marks the pinned key of `name` verified, if it is the key the user
    /// compared. Refused while a change is pending (the user must decide
    /// about the new key first) and for someone who is not a contact.
    pub fn mark_verified(
        &mut self,
        name: &Username,
        compared: &Compared,
    ) -> Result<(), AccountError> {
        let c = self
            .contacts
            .get_mut(name)
            .ok_or_else(|| AccountError::NotAContact(name.to_string()))?;
        if c.pending.is_some() {
            return Err(AccountError::KeyChanged(name.to_string()));
        }
        compared.check(name.as_str(), &c.pinned)?;
        c.verified = true;
        Ok(())
    }

    /// Pins the pending key of `name` in place of the old one, if it is the
    /// key the user compared; the new pin starts unverified. Nothing to do
    /// (Ok) when no change is pending.
    pub fn accept_change(
        &mut self,
        name: &Username,
        compared: &Compared,
    ) -> Result<(), AccountError> {
        let Some(c) = self.contacts.get_mut(name) else {
            return Ok(());
        };
        let Some(new) = c.pending.as_ref() else {
            return Ok(());
        };
        compared.check(name.as_str(), new)?;
        c.pinned = new.clone();
        c.pending = None;
        c.verified = false;
        Ok(())
    }

    /// The contacts the user chose, whose presence may be shared with
    /// them: the verified ones and those called at least once
    /// (outgoing calls in `history`). Someone who merely rang us is not a
    /// choice, or anyone could learn our presence by ringing once.
    pub fn chosen(&self, history: &[HistoryEntry]) -> Vec<Username> {
        let called: std::collections::BTreeSet<&str> = history
            .iter()
            .filter(|h| h.direction == Direction::Outgoing)
            .map(|h| h.peer.as_str())
            .collect();
        self.contacts
            .iter()
            .filter(|(name, c)| c.verified || called.contains(name.as_str()))
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn decode(bytes: &[u8]) -> Result<Self, AccountError> {
        let stored: StoredBook = serde_json::from_slice(bytes).map_err(|_| corrupt())?;
        if stored.version != BOOK_VERSION {
            return Err(corrupt());
        }
        let mut contacts = BTreeMap::new();
        for (name, entry) in stored.contacts {
            let pinned = key_from_hex(&entry.key).ok_or_else(corrupt)?;
            let pending = match entry.pending {
                Some(hex) => Some(key_from_hex(&hex).ok_or_else(corrupt)?),
                None => None,
            };
            contacts.insert(
                name,
                Contact {
                    pinned,
                    verified: entry.verified,
                    pending,
                },
            );
        }
        Ok(Self { contacts })
    }
}

fn corrupt() -> AccountError {
    AccountError::Corrupt { file: BOOK_FILE }
}

fn key_from_hex(hex: &str) -> Option<PublicIdentity> {
    PublicIdentity::from_bytes(&from_hex(hex)?).ok()
}

/// [`BOOK_FILE`] as stored.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredBook {
    version: u32,
    contacts: BTreeMap<Username, StoredContact>,
}

/// One contact as stored: keys as hex of their encoding.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredContact {
    key: String,
    #[serde(default)]
    verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending: Option<String>,
}

/// `contacts.json` before the book: username → hex of the pinned key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OldContacts {
    pinned: BTreeMap<String, String>,
}

/// The app's `trust.json` before the book: username → hex of the key each
/// mark was given for.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct OldTrust {
    verified: BTreeMap<String, String>,
    changed: BTreeMap<String, String>,
}

/// Builds the book from a profile's old files, once: writes the book, then
/// renames the old files so that they are kept but never read again. With
/// no old files there is nothing to write. A damaged old file is an error
/// and everything is left as it was.
fn migrate(profile: &Profile) -> Result<ContactBook, AccountError> {
    let _guard = MIGRATE.lock().unwrap_or_else(|p| p.into_inner());
    // Another task may have migrated while this one waited.
    if let Some(bytes) = profile.read(BOOK_FILE)? {
        return ContactBook::decode(&bytes);
    }
    let old_contacts = profile.read(OLD_CONTACTS_FILE)?;
    let old_trust = profile.read(OLD_TRUST_FILE)?;
    if old_contacts.is_none() && old_trust.is_none() {
        return Ok(ContactBook::default());
    }
    let damaged = |file| AccountError::Corrupt { file };
    let pins: OldContacts = match &old_contacts {
        Some(bytes) => serde_json::from_slice(bytes).map_err(|_| damaged(OLD_CONTACTS_FILE))?,
        None => OldContacts {
            pinned: BTreeMap::new(),
        },
    };
    let marks: OldTrust = match &old_trust {
        Some(bytes) => serde_json::from_slice(bytes).map_err(|_| damaged(OLD_TRUST_FILE))?,
        None => OldTrust::default(),
    };
    let mut book = ContactBook::default();
    for (name, hex) in &pins.pinned {
        // Pins were only ever made for names the registry accepted; one
        // that is not a username now could never be called anyway.
        let Ok(user) = Username::parse(name) else {
            tracing::warn!(contact = %name, "dropping a pin whose name is not a username");
            continue;
        };
        let pinned = key_from_hex(hex).ok_or(damaged(OLD_CONTACTS_FILE))?;
        // A verification counted only for the key it was given for; the
        // old marks compared the hex of the key encoding.
        let verified = marks
            .verified
            .get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case(hex));
        let pending = match marks.changed.get(name) {
            Some(h) => Some(key_from_hex(h).ok_or(damaged(OLD_TRUST_FILE))?),
            None => None,
        }
        .filter(|k| *k != pinned);
        book.contacts.insert(
            user,
            Contact {
                pinned,
                verified,
                pending,
            },
        );
    }
    book.save(profile)?;
    for (present, file) in [
        (old_contacts.is_some(), OLD_CONTACTS_FILE),
        (old_trust.is_some(), OLD_TRUST_FILE),
    ] {
        if present {
            profile.rename(file, &format!("{file}{MIGRATED_SUFFIX}"))?;
        }
    }
    tracing::info!(
        contacts = book.contacts.len(),
        "moved the pins and trust marks into {BOOK_FILE}"
    );
    Ok(book)
}

#[cfg(test)]
mod tests {
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
        let refs: Vec<(&str, &PublicIdentity)> =
            pins.iter().map(|(n, k)| (n.as_str(), k)).collect();
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
}
