//! Directory search, presence and contact lists.

use serde::{Deserialize, Serialize};

use super::names::is_username_char;
use super::{
    ErrorCode, IdentityKeyBytes, MAX_SEARCH_RESULTS, SignalingError, USERNAME_MAX_LEN, Username,
    Validate,
};

/// Whether a user is connected to the registry, as far as the asker may
/// know: a user shares presence only with the people on their contact
/// list ([`ContactList`]), and everyone else sees them `Offline` with no
/// `last_seen`. Being in a call is not presence; a caller learns it only
/// from a `busy` answer when ringing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// No live connection to the registry, or not shared with the asker.
    Offline,
    /// Connected.
    Online,
}

/// `GET /fetch/<username>`: a user's key and presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInfo {
    /// The user's name.
    pub username: Username,
    /// Their current identity key (pin it on first use).
    pub identity_key: IdentityKeyBytes,
    /// Hex fingerprint of `identity_key`.
    pub fingerprint: String,
    /// Their presence now.
    pub presence: Presence,
    /// Last time they were connected, Unix seconds (`None`: never).
    pub last_seen: Option<u64>,
}

/// One row of a directory search: name and presence, without the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceInfo {
    /// The user's name.
    pub username: Username,
    /// Their presence now.
    pub presence: Presence,
    /// Last time they were connected, Unix seconds (`None`: never).
    pub last_seen: Option<u64>,
}

/// `GET /users?q=<prefix>&limit=<n>`: query string of a directory search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Username prefix; empty lists everyone (paged by `limit`).
    #[serde(default)]
    pub q: String,
    /// At most this many results (1 to [`MAX_SEARCH_RESULTS`], default 50).
    #[serde(default = "default_search_limit")]
    pub limit: u32,
}

fn default_search_limit() -> u32 {
    50
}

impl Validate for SearchQuery {
    fn validate(&self) -> Result<(), SignalingError> {
        if self.q.len() > USERNAME_MAX_LEN || !self.q.chars().all(is_username_char) {
            return Err(SignalingError::new(
                ErrorCode::InvalidField,
                "q must be a username prefix (a-z 0-9 _ . -, at most 32)",
            ));
        }
        if !(1..=MAX_SEARCH_RESULTS).contains(&self.limit) {
            return Err(SignalingError::new(
                ErrorCode::InvalidField,
                format!("limit must be 1 to {MAX_SEARCH_RESULTS}"),
            ));
        }
        Ok(())
    }
}

/// Answer of a directory search, sorted by username.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserList {
    /// Matching users.
    pub users: Vec<PresenceInfo>,
}

/// Most names one contact list may hold.
pub const MAX_CONTACTS: usize = 1000;

/// `GET /contacts` (and the answer to `PUT` / `DELETE /contacts/<name>`):
/// the people the signed-in user added, sorted by name. Each of them may
/// see the user's presence; nobody else can.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactList {
    /// At most [`MAX_CONTACTS`] names.
    pub contacts: Vec<Username>,
}
