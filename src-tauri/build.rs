//! Generates Tauri's context and the permission set of the app's own commands.

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(&["app_info"])),
    )
    .expect("tauri.conf.json and capabilities/ must be valid");
}
