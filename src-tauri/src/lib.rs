//! The pqvoice desktop app: a thin Tauri v2 shell over the engine.
//!
//! `run()` starts the real app; [`build_app`] (alias [`run_app`]) registers
//! commands, plugins and state on any runtime so that tests drive the same
//! app with Tauri's mock runtime, and [`build_app_with`] does so with an
//! explicit [`AppConfig`] instead of the environment.
//!
//! Modules, each using only those before it (checked by
//! `tests/module_order.rs`): [`config`] (the environment), [`settings`],
//! [`error`] and [`events`] (what Rust tells the UI), [`devices`],
//! [`echo`] (the local echo bot), [`backup`] and [`hosting`], [`phone`]
//! (account, push channel and calls), [`state`], and [`commands`] (what
//! the UI may call, named once in `commands.list`); this file wires them
//! to Tauri.

pub mod backup;
pub mod commands;
pub mod config;
pub mod devices;
pub mod echo;
pub mod error;
pub mod events;
pub mod hosting;
pub mod phone;
pub mod render;
pub mod settings;
mod startup;
pub mod state;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use engine::profile::Profile;
use tauri::{AppHandle, Builder, Emitter, Manager, RunEvent, Runtime};

pub use config::AppConfig;
pub use state::AppState;

/// Delivers the phone's events through a Tauri app handle.
struct TauriSink<R: Runtime> {
    app: AppHandle<R>,
}

impl<R: Runtime> events::UiSink for TauriSink<R> {
    fn emit_json(&self, event: &str, payload: serde_json::Value) {
        if let Err(e) = self.app.emit(event, payload) {
            tracing::warn!(event, error = %e, "event not delivered");
        }
    }

    fn notify(&self, title: &str, body: &str) {
        use tauri_plugin_notification::NotificationExt;
        // Without a notification daemon this fails; the popup still shows.
        if let Err(e) = self
            .app
            .notification()
            .builder()
            .title(title)
            .body(body)
            .show()
        {
            tracing::warn!(error = %e, "notification not shown");
        }
    }

    fn raise_window(&self) {
        if let Some(w) = self.app.get_webview_window("main") {
            let _ = w.unminimize();
            let _ = w.show();
            let _ = w.set_focus();
        }
    }
}

/// Registers the app's commands, plugins and state on `builder`, configured
/// from the environment ([`AppConfig::from_env`]).
pub fn build_app<R: Runtime>(builder: Builder<R>) -> Builder<R> {
    build_app_with(builder, AppConfig::from_env())
}

/// The generic entry point named in the design: same as [`build_app`].
pub fn run_app<R: Runtime>(builder: Builder<R>) -> Builder<R> {
    build_app(builder)
}

/// Registers the app's commands, plugins and state with `config`.
pub fn build_app_with<R: Runtime>(builder: Builder<R>, config: AppConfig) -> Builder<R> {
    builder
        .plugin(tauri_plugin_notification::init())
        .invoke_handler({
            // The one list of commands (see `commands::COMMANDS`).
            macro_rules! app_commands {
                ($($name:ident),* $(,)?) => {
                    tauri::generate_handler![$(commands::$name),*]
                };
            }
            include!("../commands.list")
        })
        .setup(move |app| init(app.handle(), &config))
}

/// Opens the profile, starts the phone service and puts [`AppState`] under
/// Tauri's management. The builder's setup hook calls it when the event
/// loop starts; tests on the mock runtime, whose loop never starts, call
/// it right after `build`. A second call does nothing.
pub fn init<R: Runtime>(
    app: &AppHandle<R>,
    config: &AppConfig,
) -> Result<(), Box<dyn std::error::Error>> {
    if app.try_state::<AppState>().is_some() {
        return Ok(());
    }
    static SETTING_UP: AtomicBool = AtomicBool::new(false);
    startup::mark(&SETTING_UP, "GTK and Tauri up, setting up the app state");
    let dir = match &config.profile_dir {
        Some(d) => d.clone(),
        None => app.path().app_data_dir()?,
    };
    let profile = Profile::open(dir)?;
    let sink = Arc::new(TauriSink { app: app.clone() });
    let phone = phone::Phone::new(sink, profile.clone(), config.clone());
    app.manage(AppState {
        config: config.clone(),
        profile,
        phone: phone.clone(),
        host: Mutex::new(None),
    });
    phone.start();
    if let Some(window) = app.get_webview_window("main") {
        render::apply(&window);
    }
    static SET_UP: AtomicBool = AtomicBool::new(false);
    startup::mark(&SET_UP, "app state set up, window opening");
    Ok(())
}

/// Stops background work when the app exits: hangs up, stops hosting.
pub fn on_run_event<R: Runtime>(app: &AppHandle<R>, event: RunEvent) {
    if let RunEvent::Exit = event
        && let Some(state) = app.try_state::<AppState>()
    {
        state.shutdown();
    }
}

/// Runs the desktop app until its last window closes (or it gets SIGTERM,
/// SIGINT or SIGHUP, see `quit_on_signals`).
pub fn run() {
    startup::begin();
    init_logging();
    let app = build_app(Builder::default())
        .build(tauri::generate_context!())
        .expect("the Tauri runtime failed to start; see the log above");
    quit_on_signals(app.handle().clone());
    app.run(on_run_event);
}

/// Makes SIGTERM, SIGINT and SIGHUP (logout, shutdown, `kill`, Ctrl+C in a
/// terminal) quit the app the way closing its window does, so that
/// [`on_run_event`] still hangs up and stops a hosted registry; without
/// this the default action kills the app and leaves the registry running.
/// A second signal during that clean-up exits at once.
#[cfg(unix)]
fn quit_on_signals<R: Runtime>(app: AppHandle<R>) {
    use tokio::signal::unix::{SignalKind, signal};
    tauri::async_runtime::spawn(async move {
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::warn!("signal handlers could not be installed");
            return;
        };
        for n in 0.. {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
                _ = hup.recv() => "SIGHUP",
            };
            if n == 0 {
                tracing::info!(signal = name, "quitting");
                app.exit(0);
            } else {
                tracing::warn!(signal = name, "second signal: exiting without clean-up");
                std::process::exit(1);
            }
        }
    });
}

#[cfg(not(unix))]
fn quit_on_signals<R: Runtime>(_app: AppHandle<R>) {}

/// Logs to stderr at the `PQVOICE_LOG` filter (`warn` by default). Nothing
/// secret is ever logged: keys, tokens and passphrases have no `Display`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PQVOICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
