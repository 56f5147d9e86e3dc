//! Sign-in: single-use challenges and MAC'd bearer tokens.
//!
//! No password exists. A client asks for a fresh random challenge, signs it
//! with its identity key, and trades the signature for a bearer token.
//!
//! Tokens are self-contained: `username:expires_at:mac`, where the MAC is
//! HMAC-SHA256 under a server secret kept in the database. Checking one
//! costs a hash and no lookup, survives a restart (same database, same
//! secret), and works on every instance that shares the database.
//! Challenges are kept in memory, single-use and short-lived; a restart
//! merely makes clients ask for a new one.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{KeyInit, Mac};
use proto::signaling::{CHALLENGE_LEN, Challenge, ErrorCode, MAX_TOKEN_LEN, Username, hex};
use sha2::Sha256;

use crate::error::AppError;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Most challenges one user may have outstanding; older ones are dropped.
const MAX_CHALLENGES_PER_USER: usize = 4;

/// Domain prefix of the token MAC input.
const TOKEN_DOMAIN: &[u8] = b"pqvoice/registry-token/v1";

/// Issues and checks bearer tokens and sign-in challenges.
pub struct Auth {
    secret: Vec<u8>,
    challenges: Mutex<HashMap<Username, Vec<(Challenge, u64)>>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth { .. }")
    }
}

impl Auth {
    /// A token authority keyed by `secret` (at least 32 random bytes).
    pub fn new(secret: Vec<u8>) -> Self {
        Self {
            secret,
            challenges: Mutex::new(HashMap::new()),
        }
    }

    /// A fresh challenge for `username`, valid until `expires_at`.
    pub fn issue_challenge(&self, username: &Username, expires_at: u64) -> Challenge {
        let mut bytes = [0u8; CHALLENGE_LEN];
        crate::random_bytes(&mut bytes);
        let challenge = Challenge::new(bytes.to_vec())
            .expect("CHALLENGE_LEN bytes is exactly the challenge size");
        let mut map = self.challenges.lock().unwrap_or_else(|p| p.into_inner());
        let list = map.entry(username.clone()).or_default();
        if list.len() >= MAX_CHALLENGES_PER_USER {
            list.remove(0);
        }
        list.push((challenge.clone(), expires_at));
        challenge
    }

    /// Consumes `challenge` for `username` if it was issued and is fresh.
    pub fn take_challenge(
        &self,
        username: &Username,
        challenge: &Challenge,
        now: u64,
    ) -> Result<(), AppError> {
        let mut map = self.challenges.lock().unwrap_or_else(|p| p.into_inner());
        let found = map.get_mut(username).and_then(|list| {
            let i = list.iter().position(|(c, _)| c == challenge)?;
            Some(list.remove(i))
        });
        match found {
            Some((_, expires_at)) if now <= expires_at => Ok(()),
            _ => Err(AppError::new(
                ErrorCode::InvalidChallenge,
                "challenge is unknown, already used or expired",
            )),
        }
    }

    /// Drops expired challenges (called periodically).
    pub fn sweep(&self, now: u64) {
        let mut map = self.challenges.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, list| {
            list.retain(|(_, exp)| *exp >= now);
            !list.is_empty()
        });
    }

    fn mac(&self, username: &str, expires_at: u64) -> String {
        let mut mac =
            HmacSha256::new_from_slice(&self.secret).expect("HMAC accepts keys of any length");
        mac.update(TOKEN_DOMAIN);
        mac.update(&(username.len() as u64).to_be_bytes());
        mac.update(username.as_bytes());
        mac.update(&expires_at.to_be_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// A token for `username` that expires at `expires_at`.
    pub fn issue_token(&self, username: &Username, expires_at: u64) -> String {
        format!(
            "{}:{}:{}",
            username,
            expires_at,
            self.mac(username.as_str(), expires_at)
        )
    }

    /// The user a token belongs to, if it is genuine and unexpired.
    pub fn check_token(&self, token: &str, now: u64) -> Result<Username, AppError> {
        let bad = || AppError::new(ErrorCode::Unauthorized, "missing, invalid or expired token");
        if token.len() > MAX_TOKEN_LEN {
            return Err(bad());
        }
        let mut parts = token.splitn(3, ':');
        let (Some(name), Some(exp), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let username = Username::parse(name).map_err(|_| bad())?;
        let expires_at: u64 = exp.parse().map_err(|_| bad())?;
        // Compare MACs in constant time: hex strings of equal length, XOR-folded.
        let expected = self.mac(name, expires_at);
        let same = expected.len() == mac.len()
            && expected
                .bytes()
                .zip(mac.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same || now > expires_at {
            return Err(bad());
        }
        Ok(username)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Username {
        Username::parse("alice").expect("valid")
    }

    #[test]
    fn tokens_verify_until_expiry_and_not_under_another_secret() {
        let auth = Auth::new(vec![7; 32]);
        let token = auth.issue_token(&alice(), 100);
        assert_eq!(auth.check_token(&token, 100).expect("valid"), alice());
        assert!(auth.check_token(&token, 101).is_err());
        assert!(Auth::new(vec![8; 32]).check_token(&token, 50).is_err());
        // Changing the name or the expiry breaks the MAC.
        let forged = token.replacen("alice", "bobby", 1);
        assert!(auth.check_token(&forged, 50).is_err());
        let extended = token.replacen(":100:", ":999:", 1);
        assert!(auth.check_token(&extended, 50).is_err());
    }

    #[test]
    fn challenges_are_single_use_and_expire() {
        let auth = Auth::new(vec![1; 32]);
        let c = auth.issue_challenge(&alice(), 10);
        assert!(auth.take_challenge(&alice(), &c, 5).is_ok());
        assert!(auth.take_challenge(&alice(), &c, 5).is_err());
        let c = auth.issue_challenge(&alice(), 10);
        assert!(auth.take_challenge(&alice(), &c, 11).is_err());
    }
}
