//! Encrypted identity backup (`export_identity`).
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
//! version can raise them and still read old backups.

use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use crate::error::{AppError, AppResult};

/// File magic.
pub const MAGIC: &[u8; 15] = b"PQVOICE-BACKUP\0";
/// Format version.
pub const VERSION: u8 = 1;
/// Argon2id memory in KiB (the OWASP minimum for Argon2id: 19 MiB).
pub const M_COST_KIB: u32 = 19 * 1024;
/// Argon2id passes.
pub const T_COST: u32 = 2;
/// Argon2id lanes.
pub const LANES: u32 = 1;
/// Shortest passphrase accepted (the UI asks for the same).
pub const MIN_PASSPHRASE: usize = 10;

/// What is sealed.
#[derive(serde::Serialize, serde::Deserialize)]
struct Contents {
    username: String,
    registry: String,
    identity_hex: String,
}

fn derive_key(
    passphrase: &str,
    salt: &[u8],
    m: u32,
    t: u32,
    p: u32,
) -> AppResult<Zeroizing<[u8; 32]>> {
    let params = argon2::Params::new(m, t, p, Some(32)).map_err(AppError::internal)?;
    let kdf = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    kdf.hash_password_into(passphrase.as_bytes(), salt, &mut key[..])
        .map_err(AppError::internal)?;
    Ok(key)
}

/// Checks the target path: absolute, parent folder exists.
pub fn check_path(path: &str) -> AppResult<PathBuf> {
    let p = PathBuf::from(path.trim());
    if path.trim().is_empty() || !p.is_absolute() {
        return Err(AppError::InvalidInput(
            "Give the full path of the backup file, starting with /.".into(),
        ));
    }
    match p.parent() {
        Some(dir) if dir.is_dir() => Ok(p),
        _ => Err(AppError::InvalidInput(
            "The folder for the backup file does not exist.".into(),
        )),
    }
}

/// Seals the identity into a new file at `path` (mode 0600). An existing
/// file is never overwritten.
pub fn export(
    path: &Path,
    passphrase: &Zeroizing<String>,
    username: &str,
    registry: &str,
    identity: &[u8],
) -> AppResult<PathBuf> {
    if passphrase.chars().count() < MIN_PASSPHRASE {
        return Err(AppError::InvalidInput(format!(
            "The passphrase must have at least {MIN_PASSPHRASE} characters."
        )));
    }
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut salt).map_err(AppError::internal)?;
    getrandom::fill(&mut nonce).map_err(AppError::internal)?;
    let key = derive_key(passphrase, &salt, M_COST_KIB, T_COST, LANES)?;
    let plain = Zeroizing::new(
        serde_json::to_vec(&Contents {
            username: username.to_owned(),
            registry: registry.to_owned(),
            identity_hex: engine::account::to_hex(identity),
        })
        .map_err(AppError::internal)?,
    );
    let mut header = Vec::with_capacity(64);
    header.extend_from_slice(MAGIC);
    header.push(VERSION);
    for v in [M_COST_KIB, T_COST, LANES] {
        header.extend_from_slice(&v.to_be_bytes());
    }
    header.extend_from_slice(&salt);
    header.extend_from_slice(&nonce);
    let cipher = Aes256Gcm::new_from_slice(&key[..]).map_err(AppError::internal)?;
    let sealed = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &plain,
                aad: &header,
            },
        )
        .map_err(AppError::internal)?;

    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            AppError::Io("A file with that name already exists; choose another name.".into())
        }
        _ => AppError::Io(format!("The backup file could not be created: {e}.")),
    })?;
    let written = file
        .write_all(&header)
        .and_then(|()| file.write_all(&sealed))
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(path);
        return Err(AppError::Io(format!(
            "The backup file could not be written: {e}."
        )));
    }
    Ok(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
}

/// Opens a backup: returns (username, registry, identity bytes). Used by
/// tests to prove the file holds what it should; a wrong passphrase and a
/// damaged file give the same error on purpose.
pub fn open(bytes: &[u8], passphrase: &str) -> AppResult<(String, String, Zeroizing<Vec<u8>>)> {
    let bad =
        || AppError::InvalidInput("The backup could not be opened with this passphrase.".into());
    let head_len = MAGIC.len() + 1 + 12 + 16 + 12;
    if bytes.len() < head_len || &bytes[..MAGIC.len()] != MAGIC || bytes[MAGIC.len()] != VERSION {
        return Err(bad());
    }
    let num = |i: usize| {
        let at = MAGIC.len() + 1 + 4 * i;
        u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
    };
    let (m, t, p) = (num(0), num(1), num(2));
    // Refuse parameters that would make opening a hostile file a DoS.
    if m > 1024 * 1024 || t > 16 || p > 8 {
        return Err(bad());
    }
    let salt = &bytes[MAGIC.len() + 13..MAGIC.len() + 29];
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&bytes[MAGIC.len() + 29..head_len]);
    let key = derive_key(passphrase, salt, m, t, p).map_err(|_| bad())?;
    let cipher = Aes256Gcm::new_from_slice(&key[..]).map_err(|_| bad())?;
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &bytes[head_len..],
                    aad: &bytes[..head_len],
                },
            )
            .map_err(|_| bad())?,
    );
    let c: Contents = serde_json::from_slice(&plain).map_err(|_| bad())?;
    let identity = Zeroizing::new(engine::account::from_hex(&c.identity_hex).ok_or_else(bad)?);
    Ok((c.username, c.registry, identity))
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
        let (u, r, id) = open(&bytes, "correct horse battery").expect("opens");
        assert_eq!(
            (u.as_str(), r.as_str(), &id[..]),
            ("alice", "http://r", &b"secret-bytes"[..])
        );
        assert!(open(&bytes, "wrong passphrase!").is_err());
        let again = export(&path, &pass, "alice", "http://r", b"x");
        assert_eq!(again.map_err(|e| e.kind()), Err("io"));
        let short = export(
            &dir.path().join("b"),
            &Zeroizing::new("short".into()),
            "a",
            "r",
            b"x",
        );
        assert_eq!(short.map_err(|e| e.kind()), Err("invalid-input"));
    }
}
