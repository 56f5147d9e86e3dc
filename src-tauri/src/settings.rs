//! The user's settings, kept by the app in its own file of the profile
//! directory (0700), written atomically with mode 0600:
//! `app-settings.json`. The registry URL lives with the account instead.

use engine::profile::{Profile, ProfileError};
use serde::{Deserialize, Serialize};

const SETTINGS_FILE: &str = "app-settings.json";

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
    /// Every call goes through the registry's relay, so no peer learns
    /// this computer's addresses.
    pub always_relay: bool,
    /// Calls with someone who is not a chosen contact go through the relay
    /// when the registry offers one.
    pub relay_strangers: bool,
}

impl Default for StoredSettings {
    fn default() -> Self {
        Self {
            ring_sound: true,
            notifications: true,
            advertise_address: None,
            input_device: None,
            output_device: None,
            always_relay: false,
            // Strangers learn only the relay's address unless the user
            // says otherwise; a settings file from before this choice
            // existed gets the same default.
            relay_strangers: true,
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
    pub fn save(&self, profile: &Profile) -> Result<(), ProfileError> {
        // Strings, flags and options have no way to fail in serde_json
        // (only maps with non-string keys or custom serializers do).
        let bytes = serde_json::to_vec_pretty(self).expect("plain settings always serialize");
        profile.write_secret(SETTINGS_FILE, &bytes)
    }
}
