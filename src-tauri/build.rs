//! Generates Tauri's context and the permission set of the app's own commands.

fn main() {
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(
        tauri_build::AppManifest::new().commands(&[
            "app_info",
            "get_account",
            "sign_up",
            "list_contacts",
            "current_call",
            "start_call",
            "echo_test",
            "cancel_call",
            "accept_call",
            "reject_call",
            "hang_up",
            "set_mute",
            "list_devices",
            "select_devices",
            "start_mic_test",
            "stop_mic_test",
            "get_settings",
            "set_settings",
            "safety_number",
            "mark_verified",
            "accept_key_change",
            "history",
            "export_identity",
            "host_registry_start",
            "host_registry_stop",
            "host_registry_status",
        ]),
    ))
    .expect("tauri.conf.json and capabilities/ must be valid");
}
