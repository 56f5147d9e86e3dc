//! Profiles from before the contact book: folding their `contacts.json`
//! and `trust.json` into the book, once.

use std::collections::BTreeMap;
use std::sync::Mutex;

use proto::signaling::Username;
use serde::Deserialize;

use super::{
    BOOK_FILE, Contact, ContactBook, MIGRATED_SUFFIX, OLD_CONTACTS_FILE, OLD_TRUST_FILE,
    key_from_hex,
};
use crate::account::AccountError;
use crate::profile::Profile;

/// Serialises migrations within this process: a second loader must find
/// the book the first one wrote, not old files half renamed (taken after
/// [`UPDATE`](super::UPDATE) when both are held).
static MIGRATE: Mutex<()> = Mutex::new(());

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
pub(super) fn migrate(profile: &Profile) -> Result<ContactBook, AccountError> {
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
