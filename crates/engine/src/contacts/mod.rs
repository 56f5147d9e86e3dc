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

mod migrate;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use proto::identity::PublicIdentity;
use proto::safety::SafetyNumber;
use proto::signaling::Username;
use serde::{Deserialize, Serialize};

use crate::account::{AccountError, Direction, HistoryEntry, from_hex, to_hex};
use crate::profile::Profile;
use migrate::migrate;

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

/// How far a contact's key is trusted. The call controller reports it for
/// each call's peer, and the desktop UI contract uses the same type: it
/// serialises with the contract's kebab-case names (`"key-changed"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
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

#[cfg(test)]
mod tests;
