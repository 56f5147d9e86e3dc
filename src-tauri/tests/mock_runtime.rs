//! Drives the app's commands through Tauri's mock runtime.

use tauri::test::{INVOKE_KEY, get_ipc_response, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;

#[test]
fn app_info_reports_version_and_registry() {
    let app = pqvoice_desktop::build_app(mock_builder())
        .build(mock_context(noop_assets()))
        .expect("mock app builds");
    let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("mock window");
    let res = get_ipc_response(
        &webview,
        InvokeRequest {
            cmd: "app_info".into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: "http://tauri.localhost".parse().expect("static url"),
            body: tauri::ipc::InvokeBody::default(),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .expect("app_info succeeds");
    let info: serde_json::Value = res.deserialize().expect("json");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    let url = info["registryUrl"].as_str().expect("registryUrl is a string");
    assert!(url.starts_with("http"), "unexpected registry url {url}");

    // A command that does not exist is refused, not silently ignored.
    let missing = get_ipc_response(
        &webview,
        InvokeRequest {
            cmd: "no_such_command".into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: "http://tauri.localhost".parse().expect("static url"),
            body: tauri::ipc::InvokeBody::default(),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    );
    assert!(missing.is_err());
}
