//! The global options that say how to reach the registry safely:
//! `--registry-fingerprint` (a pinned certificate, for a registry hosted
//! with a self-signed one) and `--allow-insecure-http` (consent to plain
//! `http://` beyond this computer). `main` records them once; every command
//! builds its registry client through [`connect_options`].

use std::sync::OnceLock;

use engine::account::AccountInfo;
use engine::registry_tls::{CertFingerprint, ConnectOptions, classify};

/// What the command line said.
#[derive(Debug, Default)]
pub struct RegistryFlags {
    /// `--registry-fingerprint`, parsed.
    pub fingerprint: Option<CertFingerprint>,
    /// `--allow-insecure-http`.
    pub allow_insecure_http: bool,
}

static FLAGS: OnceLock<RegistryFlags> = OnceLock::new();

/// Records the flags for this run (the first call wins; `main` makes it).
pub fn set(flags: RegistryFlags) {
    let _ = FLAGS.set(flags);
}

fn flags() -> &'static RegistryFlags {
    FLAGS.get_or_init(RegistryFlags::default)
}

/// How to connect to `url`, warning on stderr about plain `http://` beyond
/// loopback and refusing it without `--allow-insecure-http`.
///
/// The pin is `--registry-fingerprint`, else the one remembered with the
/// account, but only while `url` is that account's registry: a pin names
/// one registry's certificate.
pub fn connect_options(url: &str, account: Option<&AccountInfo>) -> anyhow::Result<ConnectOptions> {
    let flags = flags();
    let class = classify(url.trim_end_matches('/'))?;
    if class.is_insecure() {
        if !flags.allow_insecure_http {
            anyhow::bail!(
                "refusing plain http:// to {url} (an address on {}): the sign-in token would \
                 cross the network readable by anyone on the way; use https:// (with \
                 --registry-fingerprint for a self-signed registry) or, if you accept the risk, \
                 --allow-insecure-http (PQVOICE_ALLOW_INSECURE_HTTP=1)",
                class.reach
            );
        }
        eprintln!(
            "warning: talking to the registry at {url} over plain http:// on {}: anyone on the \
             way can read your sign-in token and act as you there",
            class.reach
        );
    }
    let remembered = account
        .filter(|a| a.registry.trim_end_matches('/') == url.trim_end_matches('/'))
        .map(AccountInfo::connect_options)
        .transpose()?
        .and_then(|o| o.pinned);
    Ok(ConnectOptions {
        pinned: flags.fingerprint.or(remembered),
        allow_insecure_http: flags.allow_insecure_http,
        ..ConnectOptions::default()
    })
}
