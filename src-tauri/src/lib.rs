//! The pqvoice desktop app: a thin Tauri v2 shell over the engine.
//!
//! `run()` starts the real app; `build_app` registers commands and plugins on
//! any runtime so that tests can drive the same app with Tauri's mock runtime.

pub mod commands;

use tauri::{Builder, Runtime};

/// Registers the app's commands, plugins and state on `builder`.
pub fn build_app<R: Runtime>(builder: Builder<R>) -> Builder<R> {
    builder.invoke_handler(tauri::generate_handler![commands::app_info])
}

/// Runs the desktop app until its last window closes.
pub fn run() {
    build_app(Builder::default())
        .run(tauri::generate_context!())
        .expect("the Tauri runtime failed to start; see the log above");
}
