//! How the app was started: the environment, read once into an
//! [`AppConfig`]. The bottom of the shell's modules; it uses none of them.

use std::path::PathBuf;

/// Environment variable that points the app at a registry.
pub const REGISTRY_URL_ENV: &str = "PQVOICE_REGISTRY_URL";

/// Registry used when nothing else is configured: one on this computer.
pub const DEFAULT_REGISTRY_URL: &str = "http://127.0.0.1:5001";

/// The registry offered on first run: `PQVOICE_REGISTRY_URL` or the default.
pub fn default_registry_url() -> String {
    std::env::var(REGISTRY_URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_REGISTRY_URL.to_owned())
}

/// Points the app at a profile directory instead of the app data folder.
pub const PROFILE_ENV: &str = "PQVOICE_PROFILE";
/// `null` selects silent audio (tests and CI without a sound card).
pub const AUDIO_ENV: &str = "PQVOICE_AUDIO";
/// Name of the registry-side echo bot used by the echo test.
pub const ECHO_BOT_ENV: &str = "PQVOICE_ECHO_BOT";

/// How the app was started: everything read from the environment once.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Profile directory; `None` = the app data folder.
    pub profile_dir: Option<PathBuf>,
    /// Registry offered on the first-run screen.
    pub default_registry: String,
    /// Use silent audio instead of the sound card.
    pub null_audio: bool,
    /// Username of the registry-side echo bot.
    pub echo_bot: String,
}

impl AppConfig {
    /// Reads `PQVOICE_PROFILE`, `PQVOICE_REGISTRY_URL`, `PQVOICE_AUDIO` and
    /// `PQVOICE_ECHO_BOT`.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Self {
            profile_dir: var(PROFILE_ENV).map(PathBuf::from),
            default_registry: default_registry_url(),
            null_audio: var(AUDIO_ENV).is_some_and(|v| v == "null"),
            echo_bot: var(ECHO_BOT_ENV).unwrap_or_else(|| "echo".to_owned()),
        }
    }
}
