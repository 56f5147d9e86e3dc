//! What the app keeps between commands: where the profile lives, the
//! user's settings, and the running services (the phone, a hosted
//! registry).
//!
//! The engine's profile files (identity, account, contact book with the
//! pins and trust, history) are the source of truth for the account,
//! shared with the CLI; the app adds one file of its own in the same 0700
//! directory, written atomically with mode 0600: `app-settings.json`.
//! (Its earlier `trust.json` is folded into the contact book by
//! [`engine::contacts::ContactBook::load`].)

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use engine::contacts::ContactBook;
use engine::profile::Profile;
use proto::signaling::Username;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::events::Trust;
use crate::hosting::HostedRegistry;
use crate::phone::Phone;

/// Points the app at a profile directory instead of the app data folder.
pub const PROFILE_ENV: &str = "PQVOICE_PROFILE";
/// `null` selects silent audio (tests and CI without a sound card).
pub const AUDIO_ENV: &str = "PQVOICE_AUDIO";
/// Name of the registry-side echo bot used by the echo test.
pub const ECHO_BOT_ENV: &str = "PQVOICE_ECHO_BOT";

const SETTINGS_FILE: &str = "app-settings.json";

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
            default_registry: crate::commands::default_registry_url(),
            null_audio: var(AUDIO_ENV).is_some_and(|v| v == "null"),
            echo_bot: var(ECHO_BOT_ENV).unwrap_or_else(|| "echo".to_owned()),
        }
    }
}

/// The user's settings, as stored (the registry URL lives with the account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StoredSettings {
    /// Play a ring tone for incoming calls (the UI plays it).
    pub ring_sound: bool,
    /// Show an OS notification for incoming calls.
    pub notifications: bool,
    /// `host:port` peers should send media to, if set.
    pub advertise_address: Option<String>,
    /// Chosen capture device id (its name); `None` = system default.
    pub input_device: Option<String>,
    /// Chosen playback device id; `None` = system default.
    pub output_device: Option<String>,
}

impl Default for StoredSettings {
    fn default() -> Self {
        Self {
            ring_sound: true,
            notifications: true,
            advertise_address: None,
            input_device: None,
            output_device: None,
        }
    }
}

impl StoredSettings {
    /// Reads the settings; defaults if the file is missing or damaged (a
    /// damaged settings file holds nothing worth refusing to start over).
    pub fn load(profile: &Profile) -> Self {
        match profile.read(SETTINGS_FILE) {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "settings file unreadable; using defaults");
                Self::default()
            }),
            Ok(None) => Self::default(),
            Err(e) => {
                tracing::warn!(error = %e, "settings file unreadable; using defaults");
                Self::default()
            }
        }
    }

    /// Writes the settings atomically.
    pub fn save(&self, profile: &Profile) -> AppResult<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(AppError::internal)?;
        profile.write_secret(SETTINGS_FILE, &bytes)?;
        Ok(())
    }
}

/// The trust the UI shows for `name` in `book`; someone who is not a
/// contact is unverified.
pub fn trust_in(book: &ContactBook, name: &Username) -> Trust {
    match book.trust(name) {
        Some(engine::contacts::Trust::Verified) => Trust::Verified,
        Some(engine::contacts::Trust::KeyChanged) => Trust::KeyChanged,
        Some(engine::contacts::Trust::Unverified) | None => Trust::Unverified,
    }
}

/// Everything the commands reach through `tauri::State`.
pub struct AppState {
    /// How the app was started.
    pub config: AppConfig,
    /// The profile directory.
    pub profile: Profile,
    /// Calls, the push channel and the account.
    pub phone: Arc<Phone>,
    /// The registry hosted on this computer, if started.
    pub host: Mutex<Option<HostedRegistry>>,
}

impl AppState {
    /// Stops what runs in the background: hangs up any call and stops the
    /// hosted registry. Called when the app exits.
    pub fn shutdown(&self) {
        self.phone.shutdown();
        let hosted = match self.host.lock() {
            Ok(mut g) => g.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(h) = hosted {
            h.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::identity::IdentityKeyPair;

    #[test]
    fn trust_follows_the_book() {
        let key = |seed: u8| IdentityKeyPair::from_seed(&[seed; 32]).public().clone();
        let bob = Username::parse("bob").expect("name");
        let mut book = ContactBook::default();
        assert_eq!(trust_in(&book, &bob), Trust::Unverified);
        book.observe(&bob, &key(1));
        let print =
            engine::contacts::Compared::fingerprint(&engine::contacts::fingerprint_hex(&key(1)))
                .expect("hex");
        book.mark_verified(&bob, &print).expect("verified");
        assert_eq!(trust_in(&book, &bob), Trust::Verified);
        book.observe(&bob, &key(2));
        assert_eq!(trust_in(&book, &bob), Trust::KeyChanged);
    }
}
