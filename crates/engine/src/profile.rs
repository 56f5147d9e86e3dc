//! The on-disk profile: one directory that holds a device's identity,
//! account, contact book and call history.
//!
//! Files holding secrets are written with mode 0600 inside a 0700 directory,
//! and every write is atomic (temporary file, fsync, rename) so that a crash
//! or a full disk never leaves a half-written identity behind.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Errors from reading or writing the profile directory.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The directory or a file in it could not be read or written.
    #[error("profile {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// A file name tried to leave the profile directory.
    #[error("invalid profile file name {0:?}")]
    BadName(String),
}

/// A profile directory on disk.
#[derive(Debug, Clone)]
pub struct Profile {
    dir: PathBuf,
}

impl Profile {
    /// Opens `dir`, creating it (mode 0700 on Unix) if it does not exist.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, ProfileError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|source| ProfileError::Io {
            path: dir.clone(),
            source,
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(|source| {
                ProfileError::Io {
                    path: dir.clone(),
                    source,
                }
            })?;
        }
        Ok(Self { dir })
    }

    /// The directory this profile lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads a file of the profile; `Ok(None)` if it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, ProfileError> {
        let path = self.path_of(name)?;
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ProfileError::Io { path, source }),
        }
    }

    /// Atomically replaces a file of the profile with `bytes`, mode 0600.
    ///
    /// Either the old content or the new content is on disk afterwards, never
    /// a mixture, and never a world-readable temporary file.
    pub fn write_secret(&self, name: &str, bytes: &[u8]) -> Result<(), ProfileError> {
        let path = self.path_of(name)?;
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let io_err = |source| ProfileError::Io {
            path: path.clone(),
            source,
        };
        let result = (|| {
            let mut file = create_private(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
            // Persist the rename itself.
            File::open(&self.dir)?.sync_all()
        })();
        if result.is_err() {
            // Best effort: a leftover temporary file would only waste space.
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(io_err)
    }

    /// Renames a file of the profile (both names inside it), replacing
    /// any file of the new name.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), ProfileError> {
        let (src, dst) = (self.path_of(from)?, self.path_of(to)?);
        let result = fs::rename(&src, &dst).and_then(|()| File::open(&self.dir)?.sync_all());
        result.map_err(|source| ProfileError::Io { path: src, source })
    }

    fn path_of(&self, name: &str) -> Result<PathBuf, ProfileError> {
        let ok = !name.is_empty()
            && name != "."
            && name != ".."
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(self.dir.join(name))
        } else {
            Err(ProfileError::BadName(name.to_owned()))
        }
    }
}

fn create_private(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_private_and_replaced_atomically() {
        let root = tempfile::tempdir().expect("temp dir");
        let profile = Profile::open(root.path().join("p")).expect("open");
        assert_eq!(profile.read("identity.key").expect("read"), None);
        profile
            .write_secret("identity.key", b"first")
            .expect("write");
        profile
            .write_secret("identity.key", b"second")
            .expect("rewrite");
        assert_eq!(
            profile.read("identity.key").expect("read").as_deref(),
            Some(&b"second"[..])
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode(&profile.dir().join("identity.key")), 0o600);
            assert_eq!(mode(profile.dir()), 0o700);
        }
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(profile.dir())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("identity.key")]);
    }

    #[test]
    fn names_cannot_escape_the_directory() {
        let root = tempfile::tempdir().expect("temp dir");
        let profile = Profile::open(root.path()).expect("open");
        for bad in ["", "..", "../x", "a/b", ".hidden", "x\0y"] {
            assert!(
                matches!(
                    profile.write_secret(bad, b"x"),
                    Err(ProfileError::BadName(_))
                ),
                "{bad:?} was accepted"
            );
        }
    }
}
