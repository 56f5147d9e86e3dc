//! Generates Tauri's context and the permission set of the app's own
//! commands, named in `commands.list`.

/// Turns the command list into the names of the commands.
macro_rules! app_commands {
    ($($name:ident),* $(,)?) => {
        &[$(stringify!($name)),*]
    };
}

const COMMANDS: &[&str] = include!("commands.list");

fn main() {
    // Tauri's build tells cargo which of its own inputs to watch, which
    // stops cargo from watching the whole package; the list is ours.
    println!("cargo:rerun-if-changed=commands.list");
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri.conf.json and capabilities/ must be valid");
}
