//! `GET /ice`: what a signed-in client needs for NAT traversal — the port
//! of this registry's STUN listener and short-lived credentials for the
//! TURN relays run beside it.
//!
//! The credentials follow the TURN REST scheme that coturn checks with
//! `use-auth-secret` / `static-auth-secret`: the username is
//! `<expiry>:<registry username>` and the password is
//! base64(HMAC-SHA1(secret, username)). The relay recomputes the MAC with
//! the same secret and refuses usernames whose expiry has passed, so the
//! registry and the relay share nothing but the secret file. The secret
//! is never logged and never leaves this process except as MACs.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use proto::signaling::{IceConfig, TurnCredential, Username};
use zeroize::Zeroizing;

use crate::AppState;
use crate::config::{Config, StunListen};
use crate::limits::AuthUser;

type HmacSha1 = hmac::Hmac<sha1::Sha1>;

/// Issues TURN credentials for the configured relays.
pub struct TurnIssuer {
    /// Canonical TURN URIs.
    uris: Vec<String>,
    secret: Zeroizing<Vec<u8>>,
    ttl: Duration,
}

impl std::fmt::Debug for TurnIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnIssuer")
            .field("uris", &self.uris)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TurnIssuer {
    /// The issuer `config` asks for: `None` without TURN URIs, else one with
    /// the secret read from `config.turn_secret_file`.
    pub fn load(config: &Config) -> anyhow::Result<Option<Arc<Self>>> {
        let Some(path) = config.turn_secret_file.as_deref() else {
            return Ok(None);
        };
        if config.turn_uris.is_empty() {
            return Ok(None);
        }
        Ok(Some(Arc::new(Self {
            uris: config.turn_uris.iter().map(ToString::to_string).collect(),
            secret: read_secret(path)?,
            ttl: config.turn_ttl,
        })))
    }

    /// Credentials for `user`, valid until `now` + the TTL (Unix seconds).
    pub fn issue(&self, user: &Username, now: u64) -> Vec<TurnCredential> {
        let ttl_secs = self.ttl.as_secs();
        let username = format!("{}:{user}", now.saturating_add(ttl_secs));
        let credential = turn_password(&self.secret, &username);
        self.uris
            .iter()
            .map(|uri| TurnCredential {
                uri: uri.clone(),
                username: username.clone(),
                credential: credential.clone(),
                ttl_secs,
            })
            .collect()
    }
}

/// The TURN REST password for `username`: base64(HMAC-SHA1(secret, username)).
pub fn turn_password(secret: &[u8], username: &str) -> String {
    let mut mac = HmacSha1::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Reads the shared secret: the file's text without surrounding
/// whitespace, exactly what coturn's `static-auth-secret=` line holds. The
/// file must not be readable by group or others (Unix), as a leaked secret
/// lets anyone mint relay credentials.
fn read_secret(path: &Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .map_err(|e| anyhow::anyhow!("cannot read TURN secret {}: {e}", path.display()))?;
        let mode = meta.permissions().mode() & 0o777;
        anyhow::ensure!(
            mode & 0o077 == 0,
            "TURN secret file {} is readable by others (mode {mode:o}); chmod 600 it",
            path.display()
        );
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read TURN secret {}: {e}", path.display()))?,
    );
    let secret = text.trim();
    anyhow::ensure!(
        !secret.is_empty(),
        "TURN secret file {} is empty",
        path.display()
    );
    anyhow::ensure!(
        !secret.contains(char::is_whitespace),
        "TURN secret in {} contains whitespace, which coturn's config cannot hold",
        path.display()
    );
    Ok(Zeroizing::new(secret.as_bytes().to_vec()))
}

/// The UDP port clients reach the STUN listener on, if there is one.
pub fn stun_port(config: &Config) -> Option<u16> {
    match config.stun_listen {
        StunListen::SameAsHttp => Some(config.listen.port()),
        StunListen::At(at) => Some(at.port()),
        StunListen::Off => None,
    }
}

/// `GET /ice`.
pub async fn ice(State(state): State<AppState>, AuthUser(user): AuthUser) -> Json<IceConfig> {
    let turn = match &state.turn {
        Some(issuer) => issuer.issue(&user, crate::unix_now()),
        None => Vec::new(),
    };
    Json(IceConfig {
        stun_port: stun_port(&state.config),
        turn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_the_turn_rest_hmac() {
        // RFC 2202 test case 2 for HMAC-SHA1 ("Jefe" / "what do ya want
        // for nothing?"), in base64.
        assert_eq!(
            turn_password(b"Jefe", "what do ya want for nothing?"),
            "7/zfauXrL6LSdBbV8YTfnCWafHk="
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("turn-secret");
        std::fs::write(&path, "s3cret-value\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = read_secret(&path).expect_err("world-readable");
        assert!(e.to_string().contains("chmod 600"), "{e}");
        assert!(!e.to_string().contains("s3cret"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(
            read_secret(&path).expect("0600").as_slice(),
            b"s3cret-value"
        );
        std::fs::write(&path, "  \n").expect("write");
        assert!(read_secret(&path).is_err());
    }
}
