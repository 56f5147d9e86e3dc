//! Encrypted identity backup (`export_identity`): the file format and the
//! sealing live in [`engine::backup`], shared with the CLI's `export` and
//! `import`, so a backup made here restores there. This module checks the
//! path the UI gave and turns the engine's errors into the app's.

use std::path::{Path, PathBuf};

use engine::backup::BackupError;
use zeroize::Zeroizing;

use crate::error::{AppError, AppResult};

pub use engine::backup::MIN_PASSPHRASE;

impl From<BackupError> for AppError {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::ShortPassphrase => AppError::InvalidInput(format!(
                "The passphrase must have at least {MIN_PASSPHRASE} characters."
            )),
            BackupError::Exists(_) => {
                AppError::Io("A file with that name already exists; choose another name.".into())
            }
            BackupError::Io { source, .. } => {
                AppError::Io(format!("The backup file could not be written: {source}."))
            }
            BackupError::CannotOpen => AppError::InvalidInput(
                "The backup could not be opened with this passphrase.".into(),
            ),
            BackupError::Account(e) => e.into(),
            BackupError::Random => AppError::internal(e),
        }
    }
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

/// Seals the identity into a new file at `path` (mode 0600); an existing
/// file is never overwritten ([`engine::backup::export`]).
pub fn export(
    path: &Path,
    passphrase: &Zeroizing<String>,
    username: &str,
    registry: &str,
    identity: &[u8],
) -> AppResult<PathBuf> {
    Ok(engine::backup::export(
        path, passphrase, username, registry, identity,
    )?)
}

/// Opens a backup: returns (username, registry, identity bytes). Used by
/// tests to prove the file holds what it should.
pub fn open(bytes: &[u8], passphrase: &str) -> AppResult<(String, String, Zeroizing<Vec<u8>>)> {
    let r = engine::backup::open(bytes, passphrase)?;
    Ok((r.username, r.registry, r.identity))
}
