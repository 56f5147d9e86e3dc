//! What the app keeps between commands: where the profile lives and the
//! running services (the phone, a hosted registry).
//!
//! The engine's profile files (identity, account, contact book with the
//! pins and trust, history) are the source of truth for the account,
//! shared with the CLI; the app's own settings file belongs to the
//! `settings` module. (Its earlier `trust.json` is folded into the
//! contact book by [`engine::contacts::ContactBook::load`].)

use std::sync::{Arc, Mutex};

use engine::profile::Profile;

pub use crate::config::AppConfig;
use crate::hosting::HostedRegistry;
use crate::phone::Phone;
pub use crate::settings::StoredSettings;

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
