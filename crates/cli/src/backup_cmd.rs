//! `pqvoice export FILE` and `pqvoice import FILE`: the identity backups of
//! [`engine::backup`], the same files the app writes.
//!
//! The passphrase comes from `PQVOICE_BACKUP_PASSPHRASE` when it is set
//! (scripts and tests), otherwise from a prompt on the terminal with echo
//! off. It is held in `Zeroizing` buffers, read byte by byte so no reader
//! keeps a copy, and never printed.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, bail};
use engine::backup::{self, MIN_PASSPHRASE};
use engine::profile::Profile;
use zeroize::Zeroizing;

/// Where scripts and tests put the passphrase instead of typing it.
pub const PASSPHRASE_ENV: &str = "PQVOICE_BACKUP_PASSPHRASE";

/// Longest passphrase read from the terminal; anything longer is refused
/// rather than grown into a buffer that may leave copies behind.
const MAX_PASSPHRASE: usize = 1024;

/// `pqvoice export FILE`.
pub fn export(profile: &Profile, file: &Path) -> anyhow::Result<()> {
    let passphrase = passphrase(true)?;
    let written = backup::export_profile(profile, file, &passphrase)?;
    println!(
        "wrote the encrypted identity backup {} (keep the passphrase: without it the file is useless)",
        written.display()
    );
    Ok(())
}

/// `pqvoice import FILE`.
pub fn import(profile: &Profile, file: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let passphrase = passphrase(false)?;
    let info = backup::restore_profile(profile, &bytes, &passphrase)?;
    println!(
        "restored the identity of {} at {} into {}",
        info.username,
        info.registry,
        profile.dir().display()
    );
    Ok(())
}

/// The passphrase, from the environment or the terminal; `twice` asks for
/// it a second time (a new backup) so a typo cannot lock the user out.
fn passphrase(twice: bool) -> anyhow::Result<Zeroizing<String>> {
    if let Some(from_env) = std::env::var_os(PASSPHRASE_ENV) {
        let text = Zeroizing::new(
            from_env
                .into_string()
                .map_err(|_| anyhow::anyhow!("{PASSPHRASE_ENV} is not valid UTF-8"))?,
        );
        return Ok(text);
    }
    let first = prompt("backup passphrase: ")?;
    if twice {
        if first.chars().count() < MIN_PASSPHRASE {
            bail!("the passphrase must have at least {MIN_PASSPHRASE} characters");
        }
        let again = prompt("the same passphrase again: ")?;
        if *again != *first {
            bail!("the two passphrases differ; nothing was written");
        }
    }
    Ok(first)
}

/// Reads one line from the terminal with echo off (`stty`; the workspace
/// forbids the unsafe code that calling termios directly needs).
fn prompt(text: &str) -> anyhow::Result<Zeroizing<String>> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .with_context(|| format!("no terminal to ask for the passphrase; set {PASSPHRASE_ENV}"))?;
    let stty = |arg: &str| -> anyhow::Result<()> {
        let status = std::process::Command::new("stty")
            .arg(arg)
            .stdin(tty.try_clone()?)
            .status()?;
        if status.success() {
            Ok(())
        } else {
            bail!("stty {arg} failed")
        }
    };
    stty("-echo").context("cannot turn off echo to read the passphrase")?;
    let read = (|| -> anyhow::Result<Zeroizing<String>> {
        (&tty).write_all(text.as_bytes())?;
        (&tty).flush()?;
        let mut line = Zeroizing::new(Vec::with_capacity(MAX_PASSPHRASE));
        let mut byte = [0u8; 1];
        loop {
            if (&tty).read(&mut byte)? == 0 || byte[0] == b'\n' {
                break;
            }
            if line.len() == MAX_PASSPHRASE {
                bail!("the passphrase is longer than {MAX_PASSPHRASE} bytes");
            }
            line.push(byte[0]);
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let text = std::str::from_utf8(&line).context("the passphrase is not valid UTF-8")?;
        let mut out = Zeroizing::new(String::with_capacity(text.len()));
        out.push_str(text);
        Ok(out)
    })();
    // Echo comes back whatever happened while reading.
    let restored = stty("echo");
    let _ = (&tty).write_all(b"\n");
    let out = read?;
    restored.context("cannot turn echo back on")?;
    Ok(out)
}
