//! Registration, sign-in and key rotation: their requests, answers and the
//! exact bytes the identity keys sign for them.

use serde::{Deserialize, Serialize};

use super::{
    CHALLENGE_LEN, Challenge, ErrorCode, IdentityKeyBytes, Origin, SignalingError, SignatureBytes,
    TIMESTAMP_TOLERANCE_SECS, Username, Validate,
};
#[cfg(doc)]
use super::{REGISTER_DOMAIN, ROTATE_KEY_DOMAIN, SIGN_IN_DOMAIN};

/// `POST /register`: binds a username to an identity key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The name to claim.
    pub username: Username,
    /// The identity key to bind it to.
    pub identity_key: IdentityKeyBytes,
    /// When the client signed, Unix seconds.
    pub timestamp: u64,
    /// Signature by `identity_key` over [`register_message`] in
    /// [`REGISTER_DOMAIN`].
    pub signature: SignatureBytes,
}

/// Answer to a successful registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterResponse {
    /// The claimed name.
    pub username: Username,
    /// Hex fingerprint of the bound key.
    pub fingerprint: String,
}

/// `POST /auth/challenge`: asks for a fresh challenge to sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// Who wants to sign in.
    pub username: Username,
}

/// A fresh single-use challenge.
///
/// Every well-formed name gets one, registered or not: the answer does not
/// tell which names exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeResponse {
    /// Bytes to sign with [`sign_in_message`].
    pub challenge: Challenge,
    /// After this Unix second the challenge is refused.
    pub expires_at: u64,
}

/// `POST /auth/token`: trades a signed challenge for a bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// Who signs in.
    pub username: Username,
    /// The registry's origin as the client derived it from its configured
    /// URL; the registry refuses origins that are not its own.
    pub origin: Origin,
    /// The challenge the registry handed out.
    pub challenge: Challenge,
    /// Signature by the registered key over [`sign_in_message`] in
    /// [`SIGN_IN_DOMAIN`].
    pub signature: SignatureBytes,
}

/// A short-lived bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// After this Unix second the token is refused.
    pub expires_at: u64,
}

/// `POST /account/rotate-key`: replaces the identity key of a username.
///
/// Signed by the old key (authority over the name) and by the new key
/// (proof that the requester holds it, so nobody can bind someone else's
/// public key to their name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateKeyRequest {
    /// Whose key changes.
    pub username: Username,
    /// The key that replaces the current one.
    pub new_identity_key: IdentityKeyBytes,
    /// When the client signed, Unix seconds.
    pub timestamp: u64,
    /// Signature by the current key over [`rotate_key_message`].
    pub old_signature: SignatureBytes,
    /// Signature by the new key over the same message.
    pub new_signature: SignatureBytes,
}

impl Validate for RegisterRequest {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}
impl Validate for ChallengeRequest {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}
impl Validate for SignInRequest {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}
impl Validate for RotateKeyRequest {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}

// Each field is written as a 4-byte big-endian length and the bytes, so no
// two different field lists give the same message. The domain is not part
// of these bytes: it is passed to `IdentityKeyPair::sign` separately.
fn put_field(out: &mut Vec<u8>, field: &[u8]) {
    let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(field);
}

/// The bytes signed (in [`REGISTER_DOMAIN`]) to bind `username` to
/// `identity_key` at `timestamp` (Unix seconds).
pub fn register_message(username: &Username, identity_key: &[u8], timestamp: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + username.as_str().len() + identity_key.len());
    put_field(&mut out, username.as_str().as_bytes());
    put_field(&mut out, identity_key);
    put_field(&mut out, &timestamp.to_be_bytes());
    out
}

/// The bytes signed (in [`SIGN_IN_DOMAIN`]) to answer `challenge` as
/// `username` at the registry whose origin is `origin`.
pub fn sign_in_message(username: &Username, origin: &Origin, challenge: &Challenge) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(12 + username.as_str().len() + origin.as_str().len() + CHALLENGE_LEN);
    put_field(&mut out, username.as_str().as_bytes());
    put_field(&mut out, origin.as_str().as_bytes());
    put_field(&mut out, challenge.as_bytes());
    out
}

/// The bytes signed (in [`ROTATE_KEY_DOMAIN`], by both keys) to replace
/// `old_key` with `new_key` for `username` at `timestamp`.
pub fn rotate_key_message(
    username: &Username,
    old_key: &[u8],
    new_key: &[u8],
    timestamp: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + username.as_str().len() + old_key.len() + new_key.len());
    put_field(&mut out, username.as_str().as_bytes());
    put_field(&mut out, old_key);
    put_field(&mut out, new_key);
    put_field(&mut out, &timestamp.to_be_bytes());
    out
}

/// Whether a signed `timestamp` is within [`TIMESTAMP_TOLERANCE_SECS`] of
/// `now` (both Unix seconds).
pub fn check_timestamp(timestamp: u64, now: u64) -> Result<(), SignalingError> {
    if timestamp.abs_diff(now) > TIMESTAMP_TOLERANCE_SECS {
        return Err(SignalingError::new(
            ErrorCode::StaleTimestamp,
            format!(
                "timestamp is more than {TIMESTAMP_TOLERANCE_SECS} s away from the server clock"
            ),
        ));
    }
    Ok(())
}
