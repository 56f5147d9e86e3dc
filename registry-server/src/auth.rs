//! Sign-in: stateless challenges, the registry's origins, and bearer tokens
//! bound to an identity key.
//!
//! No password exists. A client asks for a challenge, signs it together
//! with this registry's origin (`scheme://host:port`, taken from the URL
//! its user configured) and trades the signature for a bearer token.
//!
//! **Challenges hold no state until redeemed.** A challenge is
//! `nonce || expires_at || MAC(secret, username, nonce, expires_at)`, so
//! issuing one stores nothing and anyone may ask for any number of them,
//! for any name, without pushing out the one its owner is about to use
//! (the old design kept four per user, and a flood locked the owner out).
//! Issuing never looks at the database either, so the answer is the same
//! for registered and unknown names. Single use comes from a set of
//! redeemed nonces, each kept only until its challenge expires; the set
//! has a hard cap, and once full, sign-ins wait rather than memory grow.
//!
//! **Origins.** The signed origin is what stops a malicious registry from
//! relaying our challenge to a user and spending the signature here: the
//! user's client names the registry it talks to, and we accept only our
//! own origins ([`OriginPolicy`]).
//!
//! **Tokens** are self-contained: `username:expires_at:key_tag:mac`, where
//! `key_tag` is a hash of the identity key the token was issued for and
//! the MAC is HMAC-SHA256 under a server secret kept in the database.
//! Checking the MAC costs a hash; the caller then compares the tag with
//! the account's current key, so rotating a key revokes every older token.
//! Tokens survive a restart (same database, same secret) and work on every
//! instance that shares the database. The redeemed-challenge set is per
//! instance: behind a load balancer a captured sign-in could be replayed
//! once at each instance within the challenge's minute.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Mutex;

use hmac::{KeyInit, Mac};
use proto::signaling::{CHALLENGE_LEN, Challenge, ErrorCode, Origin, Username, hex};
use sha2::{Digest, Sha256};

use crate::client_input::{self, KEY_TAG_LEN};
use crate::error::AppError;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Random bytes at the front of a challenge; also its key in the
/// redeemed set.
const NONCE_LEN: usize = 16;
/// Bytes of the expiry (big-endian Unix seconds) after the nonce.
const EXPIRY_LEN: usize = 8;
/// Bytes of the MAC that ends a challenge.
const MAC_LEN: usize = CHALLENGE_LEN - NONCE_LEN - EXPIRY_LEN;
const _: () = assert!(MAC_LEN == 32, "a challenge carries a full HMAC-SHA256");

/// Most redeemed challenges remembered at once. Each is redeemed at most
/// once and forgotten when it expires, so this caps sign-ins per challenge
/// lifetime (100 000 a minute by default), not accounts; about 4 MB.
pub const MAX_REDEEMED: usize = 100_000;

/// Domain prefix of the challenge MAC input.
const CHALLENGE_DOMAIN: &[u8] = b"pqvoice/registry-challenge/v1";
/// Domain prefix of the token MAC input. Version 2 added the key tag.
const TOKEN_DOMAIN: &[u8] = b"pqvoice/registry-token/v2";
/// Domain prefix of the key tag hash.
const KEY_TAG_DOMAIN: &[u8] = b"pqvoice/registry-token-key/v1";

/// A short hash of an identity key, carried in tokens.
pub type KeyTag = [u8; KEY_TAG_LEN];

/// The tag of `identity_key` (its encoded bytes).
pub fn key_tag(identity_key: &[u8]) -> KeyTag {
    let digest = Sha256::new()
        .chain_update(KEY_TAG_DOMAIN)
        .chain_update(identity_key)
        .finalize();
    let mut tag = [0u8; KEY_TAG_LEN];
    tag.copy_from_slice(&digest[..KEY_TAG_LEN]);
    tag
}

/// Which origins this registry answers to: the signed origin of a sign-in
/// must be one of them.
#[derive(Debug, Clone)]
pub enum OriginPolicy {
    /// Exactly the origins the operator configured (`--origin`).
    Configured(Vec<Origin>),
    /// Nothing configured: this machine, reached directly. The scheme and
    /// port must be the ones this registry listens with; the host may be
    /// `localhost`, a loopback address, an address of one of this
    /// machine's interfaces, or its host name (also with `.local`).
    ThisMachine {
        /// Whether the registry serves TLS.
        https: bool,
        /// The port it listens on.
        port: u16,
        /// This machine's host name, lowercase, if it could be read.
        hostname: Option<String>,
    },
}

impl OriginPolicy {
    /// The policy for a registry listening on `listen`, with TLS or not,
    /// and the operator's `configured` origins (none: this machine).
    pub fn new(configured: &[Origin], listen: SocketAddr, https: bool) -> Self {
        if configured.is_empty() {
            Self::ThisMachine {
                https,
                port: listen.port(),
                hostname: machine_hostname(),
            }
        } else {
            Self::Configured(configured.to_vec())
        }
    }

    /// Whether `origin` names this registry.
    pub fn accepts(&self, origin: &Origin) -> bool {
        match self {
            Self::Configured(list) => list.contains(origin),
            Self::ThisMachine {
                https,
                port,
                hostname,
            } => {
                if origin.is_https() != *https || origin.port() != *port {
                    return false;
                }
                let host = origin.host();
                match origin.ip() {
                    Some(ip) => ip.is_loopback() || is_own_address(ip),
                    None => {
                        host == "localhost"
                            || hostname.as_deref().is_some_and(|h| {
                                host == h || host.strip_suffix(".local") == Some(h)
                            })
                    }
                }
            }
        }
    }
}

/// Whether `ip` is assigned to an interface of this machine, asked of the
/// kernel each time (addresses come and go with DHCP and Wi-Fi): binding a
/// socket to an address succeeds only when it is local. A host configured
/// to allow binding foreign addresses (`ip_nonlocal_bind`) would accept
/// every address here; such a registry should set `--origin`.
fn is_own_address(ip: IpAddr) -> bool {
    let special = match ip {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    };
    !special && UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// This machine's host name, lowercase: the kernel's on Linux, else what
/// the `hostname` command prints (it exists on Linux, macOS and Windows).
fn machine_hostname() -> Option<String> {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| {
            let out = std::process::Command::new("hostname").output().ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        })?;
    let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    (!name.is_empty()).then_some(name)
}

/// Issues and checks sign-in challenges and bearer tokens.
pub struct Auth {
    secret: Vec<u8>,
    origins: OriginPolicy,
    /// Nonces of redeemed challenges, with their expiry.
    redeemed: Mutex<HashMap<[u8; NONCE_LEN], u64>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("origins", &self.origins)
            .finish_non_exhaustive()
    }
}

fn invalid_challenge() -> AppError {
    AppError::new(
        ErrorCode::InvalidChallenge,
        "challenge is unknown, already used or expired",
    )
}

impl Auth {
    /// An authority keyed by `secret` (at least 32 random bytes) that
    /// accepts sign-ins for `origins`.
    pub fn new(secret: Vec<u8>, origins: OriginPolicy) -> Self {
        Self {
            secret,
            origins,
            redeemed: Mutex::new(HashMap::new()),
        }
    }

    fn challenge_mac(&self, username: &Username, nonce: &[u8], expiry: &[u8]) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.secret).expect("HMAC accepts keys of any length");
        // Every field is fixed-size but the name, which goes last.
        mac.update(CHALLENGE_DOMAIN);
        mac.update(nonce);
        mac.update(expiry);
        mac.update(username.as_str().as_bytes());
        mac
    }

    /// A fresh challenge for `username`, valid until `expires_at`. Stores
    /// nothing and asks no database: unknown names get one just the same.
    pub fn issue_challenge(&self, username: &Username, expires_at: u64) -> Challenge {
        let mut bytes = Vec::with_capacity(CHALLENGE_LEN);
        let mut nonce = [0u8; NONCE_LEN];
        crate::random_bytes(&mut nonce);
        let expiry = expires_at.to_be_bytes();
        let tag = self
            .challenge_mac(username, &nonce, &expiry)
            .finalize()
            .into_bytes();
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&expiry);
        bytes.extend_from_slice(&tag);
        Challenge::new(bytes).expect("nonce, expiry and MAC make exactly CHALLENGE_LEN bytes")
    }

    /// Spends `challenge` for `username` if we issued it to that name, it
    /// has not expired at `now` and it was never spent before.
    pub fn take_challenge(
        &self,
        username: &Username,
        challenge: &Challenge,
        now: u64,
    ) -> Result<(), AppError> {
        let bytes = challenge.as_bytes();
        // A `Challenge` is exactly CHALLENGE_LEN bytes; still, no slicing
        // on trust.
        let (Some(nonce), Some(expiry), Some(tag)) = (
            bytes.get(..NONCE_LEN),
            bytes.get(NONCE_LEN..NONCE_LEN + EXPIRY_LEN),
            bytes.get(NONCE_LEN + EXPIRY_LEN..),
        ) else {
            return Err(invalid_challenge());
        };
        // verify_slice compares in constant time.
        if self
            .challenge_mac(username, nonce, expiry)
            .verify_slice(tag)
            .is_err()
        {
            return Err(invalid_challenge());
        }
        let mut expiry_be = [0u8; EXPIRY_LEN];
        expiry_be.copy_from_slice(expiry);
        let expires_at = u64::from_be_bytes(expiry_be);
        if now > expires_at {
            return Err(invalid_challenge());
        }
        let mut key = [0u8; NONCE_LEN];
        key.copy_from_slice(nonce);
        let mut redeemed = self.redeemed.lock().unwrap_or_else(|p| p.into_inner());
        if redeemed.contains_key(&key) {
            return Err(invalid_challenge());
        }
        if redeemed.len() >= MAX_REDEEMED {
            crate::metrics::RATE_LIMITED.inc();
            return Err(AppError::new(
                ErrorCode::RateLimited,
                "too many sign-ins at once; retry in a few seconds",
            ));
        }
        redeemed.insert(key, expires_at);
        Ok(())
    }

    /// Refuses a sign-in signed for another registry's origin.
    pub fn check_origin(&self, origin: &Origin) -> Result<(), AppError> {
        if self.origins.accepts(origin) {
            Ok(())
        } else {
            Err(AppError::new(
                ErrorCode::WrongOrigin,
                format!(
                    "the sign-in was signed for {origin}, which is not this registry \
                     (its operator may need to set --origin)"
                ),
            ))
        }
    }

    /// Forgets redeemed challenges that have expired (called periodically).
    pub fn sweep(&self, now: u64) {
        let mut redeemed = self.redeemed.lock().unwrap_or_else(|p| p.into_inner());
        redeemed.retain(|_, expires_at| *expires_at >= now);
    }

    fn token_mac(&self, username: &str, expires_at: u64, tag_hex: &str) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.secret).expect("HMAC accepts keys of any length");
        mac.update(TOKEN_DOMAIN);
        mac.update(&(username.len() as u64).to_be_bytes());
        mac.update(username.as_bytes());
        mac.update(&expires_at.to_be_bytes());
        mac.update(tag_hex.as_bytes());
        mac
    }

    /// A token for `username`, signed in with `identity_key`, that expires
    /// at `expires_at`.
    pub fn issue_token(&self, username: &Username, identity_key: &[u8], expires_at: u64) -> String {
        let tag = hex(&key_tag(identity_key));
        let mac = self.token_mac(username.as_str(), expires_at, &tag);
        format!(
            "{}:{}:{}:{}",
            username,
            expires_at,
            tag,
            hex(&mac.finalize().into_bytes())
        )
    }

    /// The user a token belongs to and the tag of the key it was issued
    /// for, if the token is genuine and unexpired. The caller still has to
    /// compare the tag with the account's current key.
    pub fn check_token(&self, token: &str, now: u64) -> Result<(Username, KeyTag), AppError> {
        let bad = || AppError::new(ErrorCode::Unauthorized, "missing, invalid or expired token");
        let fields = client_input::token_fields(token).ok_or_else(bad)?;
        self.token_mac(fields.username.as_str(), fields.expires_at, fields.tag_hex)
            .verify_slice(&fields.mac)
            .map_err(|_| bad())?;
        if now > fields.expires_at {
            return Err(bad());
        }
        Ok((fields.username, fields.tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> Username {
        Username::parse(n).expect("valid")
    }

    fn auth() -> Auth {
        Auth::new(
            vec![1; 32],
            OriginPolicy::new(&[], "127.0.0.1:5001".parse().expect("addr"), false),
        )
    }

    #[test]
    fn tokens_verify_until_expiry_and_not_under_another_secret() {
        let auth = auth();
        let key = b"alice's key";
        let token = auth.issue_token(&name("alice"), key, 100);
        let (user, tag) = auth.check_token(&token, 100).expect("valid");
        assert_eq!((user, tag), (name("alice"), key_tag(key)));
        assert!(auth.check_token(&token, 101).is_err());
        let other = Auth::new(vec![8; 32], OriginPolicy::Configured(Vec::new()));
        assert!(other.check_token(&token, 50).is_err());
        // Changing the name, the expiry or the key tag breaks the MAC.
        let forged = token.replacen("alice", "bobby", 1);
        assert!(auth.check_token(&forged, 50).is_err());
        let extended = token.replacen(":100:", ":999:", 1);
        assert!(auth.check_token(&extended, 50).is_err());
        let retagged = token.replacen(&hex(&key_tag(key)), &hex(&key_tag(b"new key")), 1);
        assert!(auth.check_token(&retagged, 50).is_err());
        // Junk in any field is refused, never a panic.
        for junk in [
            "",
            ":::",
            "alice:1:zz:zz",
            "alice:x:00:00",
            &"a:".repeat(300),
        ] {
            assert!(auth.check_token(junk, 0).is_err(), "{junk}");
        }
    }

    #[test]
    fn challenges_are_single_use_bound_to_a_name_and_expire() {
        let auth = auth();
        let c = auth.issue_challenge(&name("alice"), 10);
        assert_eq!(c.as_bytes().len(), CHALLENGE_LEN);
        assert!(auth.take_challenge(&name("bobby"), &c, 5).is_err());
        assert!(auth.take_challenge(&name("alice"), &c, 5).is_ok());
        assert!(auth.take_challenge(&name("alice"), &c, 5).is_err());
        let c = auth.issue_challenge(&name("alice"), 10);
        assert!(auth.take_challenge(&name("alice"), &c, 11).is_err());
        assert!(auth.take_challenge(&name("alice"), &c, 10).is_ok());
    }

    #[test]
    fn a_challenge_with_a_changed_expiry_is_refused() {
        let auth = auth();
        let c = auth.issue_challenge(&name("alice"), 10);
        let mut bytes = c.as_bytes().to_vec();
        bytes[NONCE_LEN + EXPIRY_LEN - 1] ^= 0x80;
        let stretched = Challenge::new(bytes).expect("same size");
        assert!(auth.take_challenge(&name("alice"), &stretched, 5).is_err());
    }

    #[test]
    fn redeemed_challenges_are_forgotten_once_expired() {
        let auth = auth();
        for _ in 0..10 {
            let c = auth.issue_challenge(&name("alice"), 10);
            auth.take_challenge(&name("alice"), &c, 1).expect("fresh");
        }
        let len = || auth.redeemed.lock().expect("not poisoned").len();
        assert_eq!(len(), 10);
        auth.sweep(10);
        assert_eq!(len(), 10, "kept until their expiry");
        auth.sweep(11);
        assert_eq!(len(), 0);
    }

    #[test]
    fn the_redeemed_set_is_capped() {
        let auth = auth();
        {
            let mut r = auth.redeemed.lock().expect("not poisoned");
            for i in 0..MAX_REDEEMED as u64 {
                let mut k = [0u8; NONCE_LEN];
                k[..8].copy_from_slice(&i.to_be_bytes());
                r.insert(k, 10);
            }
        }
        let c = auth.issue_challenge(&name("alice"), 10);
        let e = auth
            .take_challenge(&name("alice"), &c, 1)
            .expect_err("full");
        assert_eq!(e.code(), ErrorCode::RateLimited);
        auth.sweep(11);
        assert!(auth.take_challenge(&name("alice"), &c, 1).is_ok());
    }

    #[test]
    fn this_machine_means_its_own_hosts_at_the_listening_scheme_and_port() {
        let policy = OriginPolicy::ThisMachine {
            https: false,
            port: 5001,
            hostname: Some("mybox".into()),
        };
        let ok = |url: &str| policy.accepts(&Origin::from_url(url).expect("origin"));
        for good in [
            "http://localhost:5001",
            "http://127.0.0.1:5001",
            "http://127.0.0.7:5001",
            "http://mybox:5001",
            "http://mybox.local:5001",
        ] {
            assert!(ok(good), "{good}");
        }
        for bad in [
            "https://127.0.0.1:5001",
            "http://127.0.0.1:5002",
            "http://evil.example:5001",
            "http://mybox.example:5001",
            "http://0.0.0.0:5001",
            "http://224.0.0.1:5001",
            "http://255.255.255.255:5001",
            // TEST-NET-3: never assigned to a real interface.
            "http://203.0.113.9:5001",
        ] {
            assert!(!ok(bad), "{bad}");
        }
        let configured =
            OriginPolicy::Configured(vec![Origin::from_url("https://voice.example").expect("o")]);
        assert!(configured.accepts(&Origin::from_url("https://voice.example:443").expect("o")));
        assert!(!configured.accepts(&Origin::from_url("http://127.0.0.1:5001").expect("o")));
    }
}
