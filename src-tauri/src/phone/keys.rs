//! Contacts' keys as the registry serves them, checked against the
//! contact book: a difference becomes a pending key change, announced to
//! the UI once.

use engine::account;
use engine::contacts::{Contact, ContactBook, Observation};
use engine::registry_client::RegistryError;
use futures_util::{StreamExt, stream};
use proto::identity::PublicIdentity;
use proto::signaling::{Presence, UserInfo, Username};

use super::{Phone, Session};
use crate::error::{AppError, AppResult};
use crate::events::{self, KeyChanged, Trust, emit, trust_in};

/// Contact lookups sent to the registry at once when listing contacts.
const CONTACT_LOOKUPS_IN_FLIGHT: usize = 8;

/// Checks a username the way the registry does.
pub fn parse_username(name: &str) -> AppResult<Username> {
    Username::parse(name.trim()).map_err(|_| {
        AppError::InvalidInput(format!(
            "\"{}\" is not a valid username: use 3 to 32 lower-case letters, digits, \
             '_' or '-'.",
            name.chars().take(40).collect::<String>()
        ))
    })
}

/// The fingerprint shown for an identity: 16 hex digits in groups of 4.
pub fn fingerprint(key: &PublicIdentity) -> String {
    let hex = account::to_hex(&key.fingerprint()[..8]);
    hex.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Phone {
    /// The trust of `name` from the contact book.
    pub(crate) fn trust_of(&self, name: &str) -> Trust {
        match (Username::parse(name), ContactBook::load(self.profile())) {
            (Ok(user), Ok(book)) => trust_in(&book, &user),
            _ => Trust::Unverified,
        }
    }

    /// Compares the key the registry serves for `name` with the pin: a
    /// difference is remembered (and announced) as a key change, a match
    /// clears an old change mark. Returns the served key, its trust and
    /// the user's presence.
    pub(crate) async fn check_key(
        &self,
        s: &Session,
        name: &Username,
    ) -> AppResult<(PublicIdentity, Trust, Presence)> {
        let info = s.client.fetch(name).await;
        self.check_fetched(s, name, info)
    }

    /// [`Phone::check_key`] for several contacts, in their order. The
    /// registry is asked about a few at once (it limits each account's
    /// request rate); the answers are then checked one after another,
    /// since a key change is written to the profile.
    pub(crate) async fn check_keys(
        &self,
        s: &Session,
        names: &[Username],
    ) -> Vec<AppResult<(PublicIdentity, Trust, Presence)>> {
        let client = &s.client;
        let answers: Vec<_> = stream::iter(names.iter().cloned())
            .map(|name| async move { client.fetch(&name).await })
            .buffered(CONTACT_LOOKUPS_IN_FLIGHT)
            .collect()
            .await;
        names
            .iter()
            .zip(answers)
            .map(|(name, info)| self.check_fetched(s, name, info))
            .collect()
    }

    /// The second half of [`Phone::check_key`]: `info` is the registry's
    /// answer about `name`.
    fn check_fetched(
        &self,
        s: &Session,
        name: &Username,
        info: Result<UserInfo, RegistryError>,
    ) -> AppResult<(PublicIdentity, Trust, Presence)> {
        let info =
            info.map_err(|e| AppError::from_registry(e, &s.info.registry, Some(name.as_str())))?;
        let key = PublicIdentity::from_bytes(info.identity_key.as_bytes()).map_err(|_| {
            AppError::Registry(format!("The registry sent a malformed key for {name}."))
        })?;
        self.note_key(name.as_str(), &key)?;
        Ok((key, self.trust_of(name.as_str()), info.presence))
    }

    /// Records what `key` (just shown for `name`) means for its trust: a
    /// contact's key that differs from the pin becomes its pending change
    /// (announced the first time it is seen), the pinned key withdraws one.
    /// Someone who is not a contact is not pinned here.
    pub(crate) fn note_key(&self, name: &str, key: &PublicIdentity) -> AppResult<()> {
        let Ok(user) = Username::parse(name) else {
            return Ok(());
        };
        let newly_changed = ContactBook::update(self.profile(), |book| {
            if !book.contains(&user) {
                return Ok(false);
            }
            let was = book.get(&user).and_then(Contact::pending).cloned();
            Ok(book.observe(&user, key) == Observation::Changed && was.as_ref() != Some(key))
        })?;
        if newly_changed {
            self.announce_key_change(name);
        }
        Ok(())
    }

    /// Emits `key-changed` for `name`.
    pub(super) fn announce_key_change(&self, name: &str) {
        emit(
            &*self.sink,
            events::KEY_CHANGED,
            &KeyChanged {
                username: name.to_owned(),
            },
        );
    }
}
