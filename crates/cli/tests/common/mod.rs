//! Set-up shared by the CLI's end-to-end tests: a real registry on
//! loopback, the `pqvoice` binary pointed at a profile, and a tone to feed
//! a call's microphone.

#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;

/// The flags that turn voice processing off, so what a call sends is the
/// tone as it was written.
pub const DSP_OFF: [&str; 6] = ["--aec", "false", "--ns", "off", "--agc", "false"];

/// A registry on loopback with its own database, and the runtime it (and
/// any in-process client) runs on. Dropping it stops the server.
pub struct Registry {
    pub url: String,
    pub rt: tokio::runtime::Runtime,
    _server: registry::Server,
    pub dir: tempfile::TempDir,
}

/// A registry with the tests' default settings.
pub fn registry() -> Registry {
    registry_with(|_| {})
}

/// A registry whose settings `adjust` changes first.
pub fn registry_with(adjust: impl FnOnce(&mut registry::Config)) -> Registry {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = testkit::registry_config(dir.path());
    adjust(&mut config);
    let server = rt
        .block_on(registry::Server::start(config))
        .expect("registry");
    Registry {
        url: format!("http://{}", server.addr),
        rt,
        _server: server,
        dir,
    }
}

impl Registry {
    /// `pqvoice` with `profile` and this registry.
    pub fn command(&self, profile: &Path) -> Command {
        let mut c = pqvoice(profile);
        c.args(["--registry", &self.url]);
        c
    }

    /// Registers `name` in `profile`, failing the test if it does not.
    pub fn register_profile(&self, profile: &Path, name: &str) {
        let out = self
            .command(profile)
            .args(["register", name])
            .output()
            .expect("pqvoice runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// alice and bob registered, with their profiles in a new directory:
    /// `(directory, alice's profile, bob's profile)`.
    pub fn alice_and_bob(&self) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().expect("tmp");
        let (alice, bob) = (dir.path().join("alice"), dir.path().join("bob"));
        self.register_profile(&alice, "alice");
        self.register_profile(&bob, "bob");
        (dir, alice, bob)
    }

    /// `pqvoice <verb>` (`call bob`, `answer`) with media on loopback, `tone`
    /// for a microphone, what it hears written to `heard`, and no voice
    /// processing.
    pub fn media_command(
        &self,
        profile: &Path,
        verb: &[&str],
        tone: &Path,
        heard: &Path,
    ) -> Command {
        let mut c = self.command(profile);
        c.args(verb)
            .args(["--listen", "127.0.0.1:0", "--input"])
            .arg(tone)
            .arg("--output")
            .arg(heard)
            .args(DSP_OFF);
        c
    }
}

/// The `pqvoice` binary under test, with `profile`.
pub fn pqvoice(profile: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pqvoice"));
    c.arg("--profile").arg(profile);
    c
}

/// One second of a 440 Hz tone, 48 kHz mono 16-bit PCM.
pub fn write_tone(path: &Path) {
    let samples: Vec<i16> = (0..48_000)
        .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 48_000.0).sin() * 8_000.0) as i16)
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&48_000u32.to_le_bytes());
    wav.extend_from_slice(&96_000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, wav).expect("write wav");
}
