//! Usernames and registry call ids: text fields with a rule of their own.

use std::fmt;

use serde::de::Deserializer;
use serde::{Deserialize, Serialize, Serializer};

use super::{CALL_ID_LEN, ErrorCode, SignalingError, USERNAME_MAX_LEN, USERNAME_MIN_LEN};

/// A registry username: 3–32 bytes of `a-z`, `0-9`, `_`, `.`, `-`.
///
/// Lowercase only, so that two names that look alike to people are one name
/// to the registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    /// Checks `name` against the username rule.
    pub fn parse(name: &str) -> Result<Self, SignalingError> {
        Self::check(name)?;
        Ok(Self(name.to_owned()))
    }

    /// Checks `name` against the username rule without keeping it. The
    /// handshake checks the names inside offers with it too, so a signed
    /// offer can only name someone the registry could have registered.
    pub fn check(name: &str) -> Result<(), SignalingError> {
        let len = name.len();
        if !(USERNAME_MIN_LEN..=USERNAME_MAX_LEN).contains(&len) {
            return Err(SignalingError::new(
                ErrorCode::InvalidUsername,
                format!(
                    "username must be {USERNAME_MIN_LEN} to {USERNAME_MAX_LEN} characters, got {len}"
                ),
            ));
        }
        if let Some(bad) = name.chars().find(|c| !is_username_char(*c)) {
            return Err(SignalingError::new(
                ErrorCode::InvalidUsername,
                format!("username may only contain a-z 0-9 _ . - (found {bad:?})"),
            ));
        }
        Ok(())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub(super) fn is_username_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-')
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_serde!(Username, parse);

/// Identifies one call: 16 random bytes chosen by the registry, written as
/// 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(String);

impl CallId {
    /// The id for 16 bytes (the registry draws them at random).
    pub fn from_bytes(bytes: [u8; CALL_ID_LEN]) -> Self {
        Self(crate::hex::encode(&bytes))
    }

    /// Checks that `text` is 32 lowercase hex digits.
    pub fn parse(text: &str) -> Result<Self, SignalingError> {
        let ok = text.len() == 2 * CALL_ID_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(SignalingError::new(
                ErrorCode::InvalidCallId,
                "call id must be 32 lowercase hex digits",
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_serde!(CallId, parse);
