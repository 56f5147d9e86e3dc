//! Commands the UI may invoke. Each one is granted in `capabilities/`.

use serde::Serialize;

/// Environment variable that points the app at a registry.
pub const REGISTRY_URL_ENV: &str = "PQVOICE_REGISTRY_URL";

/// Registry used when nothing else is configured: one on this computer.
pub const DEFAULT_REGISTRY_URL: &str = "http://127.0.0.1:5001";

/// What the UI shows about this build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    /// Version of the app.
    pub version: String,
    /// Registry the app is pointed at.
    pub registry_url: String,
}

/// Returns the app version and the registry it is pointed at.
#[tauri::command]
pub fn app_info() -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        registry_url: std::env::var(REGISTRY_URL_ENV)
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_REGISTRY_URL.to_owned()),
    }
}
