//! The app on Tauri's mock runtime, driven as the page drives it: shared
//! by the app's integration tests.

#![allow(dead_code)] // each test file uses a different subset

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pqvoice_desktop::{AppConfig, build_app_with};
use serde_json::Value;
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{App, Listener, Manager, WebviewWindow};

/// One app instance on Tauri's mock runtime, with the events it emitted
/// so far.
pub struct TestApp {
    /// The app itself, for what the commands do not reach.
    pub app: App<MockRuntime>,
    webview: WebviewWindow<MockRuntime>,
    /// Events not yet looked at, as (name, payload).
    pub events: mpsc::Receiver<(String, Value)>,
    /// Events already taken from `events`, oldest first.
    pub seen: Vec<(String, Value)>,
    /// The profile directory, when the app owns it.
    _dir: Option<tempfile::TempDir>,
}

/// Every event of the contract.
pub const EVENTS: &[&str] = &[
    "incoming-call",
    "call-state",
    "call-stats",
    "audio-levels",
    "presence",
    "key-changed",
    "registry-status",
];

impl TestApp {
    /// An app with its profile in `profile`, listening to every event.
    pub fn new(profile: &Path, registry: &str) -> Self {
        Self::listening(profile, registry, EVENTS)
    }

    /// An app with its profile in `profile`, listening to the events `names` only.
    pub fn listening(profile: &Path, registry: &str, names: &[&str]) -> Self {
        let config = AppConfig {
            profile_dir: Some(profile.to_path_buf()),
            default_registry: registry.to_owned(),
            null_audio: true,
            echo_bot: "echo".into(),
        };
        let app = build_app_with(mock_builder(), config.clone())
            .build(tauri::generate_context!(test = true))
            .expect("mock app builds");
        // The mock event loop never runs the setup hook.
        pqvoice_desktop::init(app.handle(), &config).expect("app state");
        let (tx, events) = mpsc::channel();
        for name in names {
            let tx = tx.clone();
            let name = (*name).to_owned();
            app.listen_any(name.clone(), move |e| {
                let v = serde_json::from_str(e.payload()).unwrap_or(Value::Null);
                let _ = tx.send((name.clone(), v));
            });
        }
        let webview = match app.get_webview_window("main") {
            Some(w) => w,
            None => tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
                .build()
                .expect("mock window"),
        };
        Self {
            app,
            webview,
            events,
            seen: Vec::new(),
            _dir: None,
        }
    }

    /// Lets the app own (and delete on drop) its profile directory.
    pub fn owning(mut self, dir: tempfile::TempDir) -> Self {
        self._dir = Some(dir);
        self
    }

    /// Invokes `cmd` as the page would; Ok(result) or Err(error payload).
    pub fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let origin = self.webview.url().expect("the mock window has a URL");
        get_ipc_response(
            &self.webview,
            InvokeRequest {
                cmd: cmd.into(),
                callback: tauri::ipc::CallbackFn(0),
                error: tauri::ipc::CallbackFn(1),
                url: origin,
                body: tauri::ipc::InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|r| r.deserialize::<Value>().expect("JSON result"))
    }

    pub fn ok(&self, cmd: &str, args: Value) -> Value {
        self.invoke(cmd, args)
            .unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }

    /// The `kind` of the error `cmd` fails with.
    pub fn err_kind(&self, cmd: &str, args: Value) -> String {
        let e = self
            .invoke(cmd, args)
            .expect_err(&format!("{cmd} should fail"));
        let msg = e["message"].as_str().expect("message is a string");
        assert!(!msg.is_empty(), "error without a message: {e}");
        e["kind"].as_str().expect("kind is a string").to_owned()
    }

    /// Waits for an event `name` whose payload satisfies `pred`.
    pub fn wait_event(&mut self, name: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some((_, v)) = self.seen.iter().find(|(n, v)| n == name && pred(v)) {
            return v.clone();
        }
        let end = Instant::now() + Duration::from_secs(20);
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.events.recv_timeout(left) {
                Ok((n, v)) => {
                    self.seen.push((n.clone(), v.clone()));
                    if n == name && pred(&v) {
                        return v;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("timed out waiting for {name}: {what}; saw {:?}", self.seen);
    }
}
