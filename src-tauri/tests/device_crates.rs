//! The shell reaches sound devices only through `engine::audio`: it
//! neither depends on cpal or ringbuf nor names them in its code, so a
//! change of audio backend lands in the engine alone.

use std::path::Path;

const DEVICE_CRATES: &[&str] = &["cpal", "ringbuf"];

#[test]
fn the_manifest_has_no_device_crates() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("Cargo.toml readable");
    for line in manifest.lines().map(str::trim) {
        for krate in DEVICE_CRATES {
            let key = line.split(['=', ' ', '.']).next().unwrap_or("");
            assert_ne!(key, *krate, "src-tauri depends on {krate}: {line}");
        }
    }
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_code_names_no_device_crate() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source readable");
        for krate in DEVICE_CRATES {
            assert!(
                !text.contains(&format!("{krate}::")),
                "{} names {krate}",
                file.display()
            );
        }
    }
}
