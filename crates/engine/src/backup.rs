//! Encrypted identity backups, shared by the CLI (`pqvoice export` /
//! `pqvoice import`) and the app (`export_identity`): a file made by one
//! restores in the other.
//!
//! File layout (all integers big-endian):
//!
//! ```text
//! "PQVOICE-BACKUP\0" (15 bytes) | version u8 = 1
//! argon2id m_cost KiB u32 | t_cost u32 | lanes u32 | salt (16) | nonce (12)
//! AES-256-GCM(key, nonce, plaintext, aad = every byte before the ciphertext)
//! ```
//!
//! `key = Argon2id(passphrase, salt)`; the plaintext is JSON with the
//! username, the registry URL and the hex of the private identity. The
//! parameters travel in the header (authenticated as AAD) so that a later
//! version can raise them and still read old backups: new backups use
//! 64 MiB and 3 passes ([`KdfParams::NEW`]); backups written with the
//! earlier 19 MiB and 2 passes still open. A header asking for more than
//! [`MAX_M_COST_KIB`], [`MAX_T_COST`] or [`MAX_LANES`] is refused before
//! any memory is set aside, so a hostile file cannot exhaust memory or
//! time.
//!
//! The passphrase, the derived key, the plaintext and the argon2 working
//! memory are wiped when dropped (`Zeroizing`, argon2's `zeroize`).

use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use proto::identity::IdentityKeyPair;
use proto::signaling::Username;

use crate::account::{self, AccountError, AccountInfo};
use crate::profile::Profile;

/// Why a backup could not be written or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The passphrase is shorter than [`MIN_PASSPHRASE`].
    #[error("the passphrase must have at least {MIN_PASSPHRASE} characters")]
    ShortPassphrase,
    /// The target file exists; a backup never overwrites one.
    #[error("{0} already exists; choose another name")]
    Exists(PathBuf),
    /// The backup file could not be written or read.
    #[error("the backup file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Wrong passphrase, a damaged file, or not a backup. One error for
    /// all on purpose: which check failed would only help a guesser.
    #[error("the backup could not be opened with this passphrase")]
    CannotOpen,
    /// The OS gave no randomness.
    #[error("the operating system gave no randomness")]
    Random,
    /// The profile to export from or restore into.
    #[error(transparent)]
    Account(#[from] AccountError),
}

/// File magic.
pub const MAGIC: &[u8; 15] = b"PQVOICE-BACKUP\0";
/// Format version.
pub const VERSION: u8 = 1;
/// Most memory a backup may ask for, in KiB (1 GiB).
pub const MAX_M_COST_KIB: u32 = 1024 * 1024;
/// Most passes a backup may ask for.
pub const MAX_T_COST: u32 = 10;
/// Most lanes a backup may ask for.
pub const MAX_LANES: u32 = 8;

/// The Argon2id cost a backup is sealed with; stored in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Passes over the memory.
    pub t_cost: u32,
    /// Lanes.
    pub lanes: u32,
}

impl KdfParams {
    /// What new backups use: 64 MiB and 3 passes, a little above the
    /// OWASP's second Argon2id choice (46 MiB, t = 1) and well above its
    /// minimum (19 MiB, t = 2), so each guess at a passphrase costs an
    /// attacker 64 MiB of memory for a noticeable time.
    pub const NEW: Self = Self {
        m_cost_kib: 64 * 1024,
        t_cost: 3,
        lanes: 1,
    };

    /// What backups of earlier versions were written with; they still open.
    pub const OLD: Self = Self {
        m_cost_kib: 19 * 1024,
        t_cost: 2,
        lanes: 1,
    };

    /// Refuses parameters beyond the caps (or below what argon2 accepts).
    fn checked(self) -> Option<argon2::Params> {
        if self.m_cost_kib > MAX_M_COST_KIB || self.t_cost > MAX_T_COST || self.lanes > MAX_LANES {
            return None;
        }
        argon2::Params::new(self.m_cost_kib, self.t_cost, self.lanes, Some(32)).ok()
    }
}
/// Shortest passphrase accepted (the UI asks for the same).
pub const MIN_PASSPHRASE: usize = 10;

/// What is sealed. The identity's hex is wiped when the value is dropped.
#[derive(serde::Serialize, serde::Deserialize)]
struct Contents {
    username: String,
    registry: String,
    identity_hex: String,
}

impl Drop for Contents {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.identity_hex.zeroize();
    }
}

/// The fixed-size header: magic, version, KDF parameters, salt, nonce.
const HEADER_LEN: usize = MAGIC.len() + 1 + 12 + 16 + 12;

/// The parts of a backup's header.
struct Header<'a> {
    params: KdfParams,
    salt: &'a [u8],
    nonce: [u8; 12],
}

impl<'a> Header<'a> {
    /// Reads and checks the header of `bytes`; `None` if it is not a
    /// backup of this version or asks for more than the caps.
    fn parse(bytes: &'a [u8]) -> Option<Self> {
        let head = bytes.get(..HEADER_LEN)?;
        let (magic, rest) = head.split_at(MAGIC.len());
        let (&version, rest) = rest.split_first()?;
        if magic != MAGIC || version != VERSION {
            return None;
        }
        let (nums, rest) = rest.split_at(12);
        let num = |i: usize| {
            let b: [u8; 4] = nums.get(4 * i..4 * i + 4)?.try_into().ok()?;
            Some(u32::from_be_bytes(b))
        };
        let params = KdfParams {
            m_cost_kib: num(0)?,
            t_cost: num(1)?,
            lanes: num(2)?,
        };
        params.checked()?;
        let (salt, nonce) = rest.split_at(16);
        Some(Self {
            params,
            salt,
            nonce: nonce.try_into().ok()?,
        })
    }
}

/// `None` for parameters out of range (checked again here, whoever calls).
fn derive_key(passphrase: &str, salt: &[u8], kdf: KdfParams) -> Option<Zeroizing<[u8; 32]>> {
    let params = kdf.checked()?;
    let kdf = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    kdf.hash_password_into(passphrase.as_bytes(), salt, &mut key[..])
        .ok()?;
    Some(key)
}

/// Seals the identity into a new file at `path` (mode 0600) with
/// [`KdfParams::NEW`]. An existing file is never overwritten.
pub fn export(
    path: &Path,
    passphrase: &Zeroizing<String>,
    username: &str,
    registry: &str,
    identity: &[u8],
) -> Result<PathBuf, BackupError> {
    export_with(
        path,
        passphrase,
        username,
        registry,
        identity,
        KdfParams::NEW,
    )
}

/// [`export`] with the given KDF cost (tests write old-style backups).
#[doc(hidden)]
pub fn export_with(
    path: &Path,
    passphrase: &Zeroizing<String>,
    username: &str,
    registry: &str,
    identity: &[u8],
    kdf: KdfParams,
) -> Result<PathBuf, BackupError> {
    if passphrase.chars().count() < MIN_PASSPHRASE {
        return Err(BackupError::ShortPassphrase);
    }
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut salt).map_err(|_| BackupError::Random)?;
    getrandom::fill(&mut nonce).map_err(|_| BackupError::Random)?;
    // Only a caller's own parameters can be out of range here.
    let key = derive_key(passphrase, &salt, kdf).ok_or(BackupError::CannotOpen)?;
    let contents = Contents {
        username: username.to_owned(),
        registry: registry.to_owned(),
        identity_hex: account::to_hex(identity),
    };
    // Room for all of it up front: a growing Vec would leave copies of the
    // secret behind in the buffers it gave up.
    let mut plain = Zeroizing::new(Vec::with_capacity(
        contents.identity_hex.len() + username.len() + registry.len() + 256,
    ));
    serde_json::to_writer(&mut *plain, &contents).map_err(|_| BackupError::CannotOpen)?;
    drop(contents);
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.push(VERSION);
    for v in [kdf.m_cost_kib, kdf.t_cost, kdf.lanes] {
        header.extend_from_slice(&v.to_be_bytes());
    }
    header.extend_from_slice(&salt);
    header.extend_from_slice(&nonce);
    let cipher = Aes256Gcm::new_from_slice(&key[..]).map_err(|_| BackupError::CannotOpen)?;
    let sealed = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &plain,
                aad: &header,
            },
        )
        .map_err(|_| BackupError::CannotOpen)?;

    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => BackupError::Exists(path.to_path_buf()),
        _ => BackupError::Io {
            path: path.to_path_buf(),
            source,
        },
    })?;
    let written = file
        .write_all(&header)
        .and_then(|()| file.write_all(&sealed))
        .and_then(|()| file.sync_all());
    if let Err(source) = written {
        // Best effort: a partial file is worthless, and must not look like
        // a backup the user can rely on.
        let _ = std::fs::remove_file(path);
        return Err(BackupError::Io {
            path: path.to_path_buf(),
            source,
        });
    }
    Ok(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
}

/// What a backup holds.
pub struct Restored {
    /// The username the identity is registered as.
    pub username: String,
    /// The registry's URL.
    pub registry: String,
    /// The private identity ([`IdentityKeyPair::to_bytes`]).
    pub identity: Zeroizing<Vec<u8>>,
}

/// Opens a backup. A wrong passphrase and a damaged file give the same
/// error on purpose.
pub fn open(bytes: &[u8], passphrase: &str) -> Result<Restored, BackupError> {
    let bad = || BackupError::CannotOpen;
    // Checked before anything is derived: a header asking for more memory
    // or time than the caps is refused without allocating.
    let header = Header::parse(bytes).ok_or_else(bad)?;
    let (aad, sealed) = bytes.split_at(HEADER_LEN);
    let key = derive_key(passphrase, header.salt, header.params).ok_or_else(bad)?;
    let cipher = Aes256Gcm::new_from_slice(&key[..]).map_err(|_| bad())?;
    let plain = Zeroizing::new(
        cipher
            .decrypt(&Nonce::from(header.nonce), Payload { msg: sealed, aad })
            .map_err(|_| bad())?,
    );
    let c: Contents = serde_json::from_slice(&plain).map_err(|_| bad())?;
    let identity = Zeroizing::new(account::from_hex(&c.identity_hex).ok_or_else(bad)?);
    Ok(Restored {
        username: c.username.clone(),
        registry: c.registry.clone(),
        identity,
    })
}

/// Writes a backup of `profile`'s identity and account to a new file at
/// `path` (see [`export`]).
pub fn export_profile(
    profile: &Profile,
    path: &Path,
    passphrase: &Zeroizing<String>,
) -> Result<PathBuf, BackupError> {
    if passphrase.chars().count() < MIN_PASSPHRASE {
        return Err(BackupError::ShortPassphrase);
    }
    let info = account::require_account(profile)?;
    let identity = account::export_identity(profile)?;
    export(path, passphrase, &info.username, &info.registry, &identity)
}

/// Restores the backup `bytes` into `profile`: the identity and the
/// account (username and registry). A profile that already has an
/// identity is refused ([`AccountError::IdentityExists`]): restoring never
/// overwrites a key. The registry's certificate pin and plain-http
/// consent are not in backups; they are asked for again.
pub fn restore_profile(
    profile: &Profile,
    bytes: &[u8],
    passphrase: &str,
) -> Result<AccountInfo, BackupError> {
    let restored = open(bytes, passphrase)?;
    // A backup that opens but holds no valid identity or username is as
    // useless as a damaged one.
    let identity =
        IdentityKeyPair::from_bytes(&restored.identity).map_err(|_| BackupError::CannotOpen)?;
    Username::parse(&restored.username).map_err(|_| BackupError::CannotOpen)?;
    account::install_identity(profile, &identity)?;
    let info = AccountInfo {
        username: restored.username.clone(),
        registry: restored.registry.clone(),
        ..AccountInfo::default()
    };
    account::set_account(profile, &info)?;
    Ok(info)
}

/// The KDF cost stored in a backup's header, if it is a readable one.
pub fn kdf_params(bytes: &[u8]) -> Option<KdfParams> {
    Header::parse(bytes).map(|h| h.params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_opens_only_with_its_passphrase_and_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("id.pqvbackup");
        let pass = Zeroizing::new("correct horse battery".to_owned());
        let written = export(&path, &pass, "alice", "http://r", b"secret-bytes").expect("export");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&written)
                .expect("stat")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let bytes = std::fs::read(&path).expect("read");
        assert!(!bytes.windows(12).any(|w| w == b"secret-bytes"));
        let r = open(&bytes, "correct horse battery").expect("opens");
        assert_eq!(
            (r.username.as_str(), r.registry.as_str(), &r.identity[..]),
            ("alice", "http://r", &b"secret-bytes"[..])
        );
        assert!(matches!(
            open(&bytes, "wrong passphrase!"),
            Err(BackupError::CannotOpen)
        ));
        let again = export(&path, &pass, "alice", "http://r", b"x");
        assert!(matches!(again, Err(BackupError::Exists(_))));
        let short = export(
            &dir.path().join("b"),
            &Zeroizing::new("short".into()),
            "a",
            "r",
            b"x",
        );
        assert!(matches!(short, Err(BackupError::ShortPassphrase)));
    }

    #[test]
    fn new_backups_carry_the_stronger_kdf_cost() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("new.pqvbackup");
        let pass = Zeroizing::new("correct horse battery".to_owned());
        export(&path, &pass, "alice", "http://r", b"id").expect("export");
        let bytes = std::fs::read(&path).expect("read");
        let p = kdf_params(&bytes).expect("header");
        assert_eq!(p, KdfParams::NEW);
        assert!(p.m_cost_kib >= 64 * 1024 && p.t_cost >= 3, "{p:?}");
    }

    #[test]
    fn a_backup_with_the_old_cost_still_opens() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("old.pqvbackup");
        let pass = Zeroizing::new("correct horse battery".to_owned());
        export_with(&path, &pass, "alice", "http://r", b"old-id", KdfParams::OLD).expect("export");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(kdf_params(&bytes), Some(KdfParams::OLD));
        let r = open(&bytes, "correct horse battery").expect("opens");
        assert_eq!(&r.identity[..], b"old-id");
    }

    #[test]
    fn a_header_over_the_caps_is_refused_before_any_work() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("b.pqvbackup");
        let pass = Zeroizing::new("correct horse battery".to_owned());
        export_with(&path, &pass, "a", "r", b"x", KdfParams::OLD).expect("export");
        let good = std::fs::read(&path).expect("read");
        let at = MAGIC.len() + 1;
        for (field, value) in [
            (0, MAX_M_COST_KIB + 1),
            (0, u32::MAX),
            (1, MAX_T_COST + 1),
            (2, MAX_LANES + 1),
            (1, 0),
        ] {
            let mut bytes = good.clone();
            bytes[at + 4 * field..at + 4 * field + 4].copy_from_slice(&value.to_be_bytes());
            // The header check alone refuses it: open never derives a key
            // (which would set aside the memory asked for).
            assert!(Header::parse(&bytes).is_none(), "field {field} = {value}");
            assert!(matches!(
                open(&bytes, "correct horse battery"),
                Err(BackupError::CannotOpen)
            ));
        }
        for cut in [0, 1, MAGIC.len(), HEADER_LEN - 1] {
            assert!(open(&good[..cut], "correct horse battery").is_err());
        }
    }

    #[test]
    fn a_profile_restores_into_an_empty_profile_only() {
        let dir = tempfile::tempdir().expect("tmp");
        let from = Profile::open(dir.path().join("from")).expect("profile");
        let (identity, _) = account::load_or_create_identity(&from).expect("identity");
        account::set_account(
            &from,
            &AccountInfo {
                username: "alice".into(),
                registry: "https://r.example".into(),
                registry_fingerprint: Some("00".repeat(32)),
                ..AccountInfo::default()
            },
        )
        .expect("account");
        let pass = Zeroizing::new("correct horse battery".to_owned());
        let path = dir.path().join("alice.pqvbackup");
        export_profile(&from, &path, &pass).expect("export");
        let bytes = std::fs::read(&path).expect("read");

        let to = Profile::open(dir.path().join("to")).expect("profile");
        assert!(matches!(
            restore_profile(&to, &bytes, "not the passphrase"),
            Err(BackupError::CannotOpen)
        ));
        assert!(account::account(&to).expect("account").is_none());
        let info = restore_profile(&to, &bytes, &pass).expect("restores");
        assert_eq!(
            (info.username.as_str(), info.registry.as_str()),
            ("alice", "https://r.example")
        );
        assert_eq!(info.registry_fingerprint, None, "pins are not in backups");
        assert_eq!(
            account::load_identity(&to).expect("identity").public(),
            identity.public()
        );
        // Never over an existing identity, not even the same one.
        assert!(matches!(
            restore_profile(&to, &bytes, &pass),
            Err(BackupError::Account(AccountError::IdentityExists))
        ));
        // A profile with no account has nothing to export.
        let empty = Profile::open(dir.path().join("empty")).expect("profile");
        assert!(matches!(
            export_profile(&empty, &dir.path().join("x"), &pass),
            Err(BackupError::Account(AccountError::NotRegistered))
        ));
    }
}
