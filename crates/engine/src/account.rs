//! What a profile remembers about its user: the identity key, the username
//! and registry it is registered with, and the call history. Shared by the CLI and the desktop app.
//!
//! Files (all 0600, written atomically by [`Profile`]):
//! - `identity.key`: the private hybrid identity ([`IdentityKeyPair::to_bytes`]).
//! - `account.json`: username and registry URL.
//! - `history.json`: the last [`HISTORY_LIMIT`] calls.
//!
//! The contacts, their pinned keys and how far each is trusted are in
//! [`crate::contacts`] (`contact-book.json`).

use proto::identity::IdentityKeyPair;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::profile::{Profile, ProfileError};

pub use crate::contacts::{Compared, fingerprint_hex};

const IDENTITY_FILE: &str = "identity.key";
const ACCOUNT_FILE: &str = "account.json";
const HISTORY_FILE: &str = "history.json";

/// How many calls the history keeps; older ones are dropped.
pub const HISTORY_LIMIT: usize = 500;

/// Errors of the account files.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Reading or writing the profile failed.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// A file exists but cannot be understood; it is left untouched.
    #[error("{file} in the profile is damaged; it was left untouched")]
    Corrupt {
        /// The file's name.
        file: &'static str,
    },
    /// The profile has no identity yet.
    #[error("no identity in this profile yet: register first")]
    NoIdentity,
    /// The profile is not registered with any registry.
    #[error("this profile is not registered: register first")]
    NotRegistered,
    /// The OS gave no randomness.
    #[error("the operating system gave no randomness")]
    Random,
    /// A contact's key differs from the pinned one.
    #[error(
        "the identity key of {0} has CHANGED since it was pinned; calls with {0} are blocked \
         until you compare the new safety number with them and trust the new key"
    )]
    KeyChanged(String),
    /// The key about to be pinned is not the one the user compared.
    #[error(
        "the key of {0} is not the one whose {1} you compared (the registry may have \
         changed it since); nothing was pinned: look at the {1} again"
    )]
    NotCompared(String, &'static str),
    /// What the user typed as compared is neither a whole safety number
    /// nor a whole fingerprint.
    #[error("{0}")]
    BadCompared(&'static str),
    /// The profile already has an identity; restoring a backup never
    /// replaces one.
    #[error("this profile already has an identity; restore into a new profile")]
    IdentityExists,
    /// A step that needs a contact was asked for someone who is not one.
    #[error("{0} is not a contact yet")]
    NotAContact(String),
}

/// Username and registry of a registered profile, and how to reach the
/// registry safely.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountInfo {
    /// The registered username.
    pub username: String,
    /// Base URL of the registry.
    pub registry: String,
    /// Hex SHA-256 of the registry's certificate when it is pinned (a
    /// self-signed hosted registry); it belongs to `registry` and is
    /// replaced whenever the URL changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_fingerprint: Option<String>,
    /// The user agreed to plain `http://` to this non-loopback registry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_insecure_http: bool,
}

impl AccountInfo {
    /// How the registry client may connect to this account's registry.
    pub fn connect_options(&self) -> Result<crate::registry_tls::ConnectOptions, AccountError> {
        let pinned = match self.registry_fingerprint.as_deref() {
            Some(hex) => Some(
                crate::registry_tls::CertFingerprint::parse(hex)
                    .map_err(|_| AccountError::Corrupt { file: ACCOUNT_FILE })?,
            ),
            None => None,
        };
        Ok(crate::registry_tls::ConnectOptions {
            pinned,
            allow_insecure_http: self.allow_insecure_http,
            ..Default::default()
        })
    }
}

/// Loads this device's identity, creating one from OS randomness if none
/// exists yet. Returns it and whether it was just created.
pub fn load_or_create_identity(profile: &Profile) -> Result<(IdentityKeyPair, bool), AccountError> {
    if let Some(identity) = load_identity_opt(profile)? {
        return Ok((identity, false));
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut seed[..]).map_err(|_| AccountError::Random)?;
    let identity = IdentityKeyPair::from_seed(&seed);
    profile.write_secret(IDENTITY_FILE, &Zeroizing::new(identity.to_bytes()))?;
    Ok((identity, true))
}

/// Loads the identity; errors if the profile has none.
pub fn load_identity(profile: &Profile) -> Result<IdentityKeyPair, AccountError> {
    load_identity_opt(profile)?.ok_or(AccountError::NoIdentity)
}

fn load_identity_opt(profile: &Profile) -> Result<Option<IdentityKeyPair>, AccountError> {
    let Some(bytes) = profile.read(IDENTITY_FILE)? else {
        return Ok(None);
    };
    let bytes = Zeroizing::new(bytes);
    IdentityKeyPair::from_bytes(&bytes)
        .map(Some)
        .map_err(|_| AccountError::Corrupt {
            file: IDENTITY_FILE,
        })
}

/// Installs `identity` (from a backup) in a profile that has none yet.
pub fn install_identity(profile: &Profile, identity: &IdentityKeyPair) -> Result<(), AccountError> {
    if profile.read(IDENTITY_FILE)?.map(Zeroizing::new).is_some() {
        return Err(AccountError::IdentityExists);
    }
    profile.write_secret(IDENTITY_FILE, &identity.to_bytes())?;
    Ok(())
}

/// The raw identity file, for a backup export.
pub fn export_identity(profile: &Profile) -> Result<Zeroizing<Vec<u8>>, AccountError> {
    profile
        .read(IDENTITY_FILE)?
        .map(Zeroizing::new)
        .ok_or(AccountError::NoIdentity)
}

/// The account of this profile, if registered.
pub fn account(profile: &Profile) -> Result<Option<AccountInfo>, AccountError> {
    read_json(profile, ACCOUNT_FILE)
}

/// The account, or [`AccountError::NotRegistered`].
pub fn require_account(profile: &Profile) -> Result<AccountInfo, AccountError> {
    account(profile)?.ok_or(AccountError::NotRegistered)
}

/// Remembers the registered username and registry.
pub fn set_account(profile: &Profile, info: &AccountInfo) -> Result<(), AccountError> {
    write_json(profile, ACCOUNT_FILE, info)
}

/// Which way a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// We called.
    Outgoing,
    /// They called.
    Incoming,
}

/// How a call ended, for the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Talked, then someone hung up.
    Completed,
    /// Nobody answered before the ring timeout.
    Missed,
    /// The callee refused.
    Rejected,
    /// The caller gave up while ringing.
    Cancelled,
    /// The callee was in another call.
    Busy,
    /// Something failed (network, key change, device).
    Failed,
}

/// One call in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    /// The registry's call id (hex).
    pub call_id: String,
    /// The other party.
    pub peer: String,
    /// Which way.
    pub direction: Direction,
    /// When it started ringing, seconds since the Unix epoch.
    pub started_at: u64,
    /// Seconds of conversation (0 if never connected).
    pub duration_s: u64,
    /// How it ended.
    pub outcome: Outcome,
}

/// Appends one call to the history, dropping the oldest beyond
/// [`HISTORY_LIMIT`]. A damaged history file is an error, not a reset.
pub fn record_call(profile: &Profile, entry: HistoryEntry) -> Result<(), AccountError> {
    let mut all = history(profile)?;
    all.push(entry);
    if all.len() > HISTORY_LIMIT {
        let excess = all.len() - HISTORY_LIMIT;
        all.drain(..excess);
    }
    write_json(profile, HISTORY_FILE, &all)
}

/// The history, oldest first.
pub fn history(profile: &Profile) -> Result<Vec<HistoryEntry>, AccountError> {
    Ok(read_json(profile, HISTORY_FILE)?.unwrap_or_default())
}

fn file_const(name: &str) -> &'static str {
    match name {
        ACCOUNT_FILE => ACCOUNT_FILE,
        HISTORY_FILE => HISTORY_FILE,
        _ => "a profile file",
    }
}

fn read_json<T: serde::de::DeserializeOwned>(
    profile: &Profile,
    name: &str,
) -> Result<Option<T>, AccountError> {
    match profile.read(name)? {
        Some(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|_| AccountError::Corrupt {
                    file: file_const(name),
                })
        }
        None => Ok(None),
    }
}

fn write_json<T: Serialize>(profile: &Profile, name: &str, value: &T) -> Result<(), AccountError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|_| AccountError::Corrupt {
        file: file_const(name),
    })?;
    profile.write_secret(name, &bytes)?;
    Ok(())
}

/// Lower-case hex.
pub fn to_hex(bytes: &[u8]) -> String {
    proto::hex::encode(bytes)
}

/// Parses lower- or upper-case hex; `None` if malformed (including a
/// sign, which `from_str_radix` alone would take).
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> (tempfile::TempDir, Profile) {
        let dir = tempfile::tempdir().expect("tmp");
        let p = Profile::open(dir.path().join("p")).expect("profile");
        (dir, p)
    }

    #[test]
    fn identity_is_created_once_and_reloaded() {
        let (_d, p) = profile();
        assert!(matches!(load_identity(&p), Err(AccountError::NoIdentity)));
        let (a, created) = load_or_create_identity(&p).expect("create");
        assert!(created);
        let (b, created) = load_or_create_identity(&p).expect("load");
        assert!(!created);
        assert_eq!(a.public(), b.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(p.dir().join(IDENTITY_FILE))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_damaged_identity_is_reported_and_left_alone() {
        let (_d, p) = profile();
        p.write_secret(IDENTITY_FILE, b"garbage").expect("write");
        assert!(matches!(
            load_or_create_identity(&p),
            Err(AccountError::Corrupt { .. })
        ));
        assert_eq!(
            p.read(IDENTITY_FILE).expect("read").as_deref(),
            Some(&b"garbage"[..])
        );
    }

    #[test]
    fn hex_takes_digits_only() {
        assert_eq!(from_hex("00fFa0"), Some(vec![0, 0xff, 0xa0]));
        for bad in ["+f", "-1", "0", "zz", " 1", "é1"] {
            assert_eq!(from_hex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn history_keeps_the_newest_entries() {
        let (_d, p) = profile();
        for i in 0..(HISTORY_LIMIT + 3) {
            record_call(
                &p,
                HistoryEntry {
                    call_id: format!("{i}"),
                    peer: "bob".into(),
                    direction: Direction::Outgoing,
                    started_at: i as u64,
                    duration_s: 0,
                    outcome: Outcome::Missed,
                },
            )
            .expect("record");
        }
        let h = history(&p).expect("history");
        assert_eq!(h.len(), HISTORY_LIMIT);
        assert_eq!(h[0].call_id, "3");
        assert_eq!(
            h.last().expect("last").started_at,
            (HISTORY_LIMIT + 2) as u64
        );
    }

    #[test]
    fn account_round_trips_and_rejects_unknown_fields() {
        let (_d, p) = profile();
        assert!(account(&p).expect("none").is_none());
        let info = AccountInfo {
            username: "alice".into(),
            registry: "http://127.0.0.1:5001".into(),
            ..AccountInfo::default()
        };
        set_account(&p, &info).expect("set");
        assert_eq!(require_account(&p).expect("get"), info);
        p.write_secret(ACCOUNT_FILE, br#"{"username":"a","registry":"b","x":1}"#)
            .expect("write");
        assert!(matches!(account(&p), Err(AccountError::Corrupt { .. })));
    }

    #[test]
    fn the_registry_pin_and_http_consent_are_remembered() {
        let (_d, p) = profile();
        let pin = crate::registry_tls::CertFingerprint::of_der(b"cert");
        let info = AccountInfo {
            username: "alice".into(),
            registry: "https://192.168.1.2:5001".into(),
            registry_fingerprint: Some(pin.to_hex()),
            allow_insecure_http: false,
        };
        set_account(&p, &info).expect("set");
        let back = require_account(&p).expect("get");
        assert_eq!(back, info);
        let opts = back.connect_options().expect("options");
        assert_eq!(opts.pinned, Some(pin));
        assert!(!opts.allow_insecure_http);
        // A file from before these fields existed still reads.
        p.write_secret(
            ACCOUNT_FILE,
            br#"{"username":"a","registry":"http://10.0.0.2:5001"}"#,
        )
        .expect("write");
        let old = require_account(&p).expect("old file");
        assert_eq!(old.registry_fingerprint, None);
        assert!(!old.allow_insecure_http);
        // A damaged pin is reported, never used as "no pin".
        let mut bad = info;
        bad.registry_fingerprint = Some("00ff".into());
        assert!(matches!(
            bad.connect_options(),
            Err(AccountError::Corrupt { .. })
        ));
    }
}
