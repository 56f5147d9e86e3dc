//! Drives the app's commands through Tauri's mock runtime.

use tauri::Manager;
use tauri::test::{INVOKE_KEY, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;

#[test]
fn app_info_reports_version_and_registry() {
    // The real context, so the capability files and the app manifest are
    // enforced exactly as in the shipped app.
    let app = pqvoice_desktop::build_app(mock_builder())
        .build(tauri::generate_context!(test = true))
        .expect("mock app builds");
    let webview = match app.get_webview_window("main") {
        Some(w) => w,
        None => tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("mock window"),
    };
    // Requests come from the page the window shows, as in the real app.
    let origin = webview.url().expect("the mock window has a URL");
    let res = get_ipc_response(
        &webview,
        InvokeRequest {
            cmd: "app_info".into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: origin.clone(),
            body: tauri::ipc::InvokeBody::default(),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .expect("app_info succeeds");
    let info: serde_json::Value = res.deserialize().expect("json");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    let url = info["registryUrl"]
        .as_str()
        .expect("registryUrl is a string");
    assert!(url.starts_with("http"), "unexpected registry url {url}");

    // A command that does not exist is refused, not silently ignored.
    let missing = get_ipc_response(
        &webview,
        InvokeRequest {
            cmd: "no_such_command".into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: origin.clone(),
            body: tauri::ipc::InvokeBody::default(),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    );
    assert!(missing.is_err());
}
