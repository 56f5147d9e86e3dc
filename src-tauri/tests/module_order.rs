//! The shell's modules depend on each other in one direction only:
//!
//! config → settings → events/error → devices → phone → state → commands
//!
//! with the services the phone and the commands use (the echo bot,
//! backups, the hosted registry, window drawing, start-up marks) placed
//! where their own uses allow. Each module may name only modules of a
//! lower layer through `crate::`, so a cycle cannot form. The check reads
//! the sources, which makes it cheap and exact for paths written out;
//! adding a module means giving it a layer here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each module's layer; a module may use only modules of lower layers.
/// `lib` is the crate root, which wires everything together.
const LAYERS: &[(&str, u32)] = &[
    ("config", 0),
    ("startup", 0),
    ("render", 0),
    ("settings", 1),
    ("error", 2),
    ("events", 2),
    ("devices", 3),
    ("echo", 3),
    ("backup", 3),
    ("hosting", 3),
    ("phone", 4),
    ("state", 5),
    ("commands", 6),
    ("lib", 7),
];

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// The Rust files under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src-tauri/src is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`phone/ui.rs` → `phone`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("file under src");
    let first = rel.components().next().expect("non-empty path");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_owned()
}

/// The first path segments after each `crate::` in `text`, expanding
/// `crate::{a, b::c}` into `a` and `b`. A segment that is not a module
/// (an item of the crate root) comes out as itself and is then unknown.
fn crate_uses(text: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        // `pqvoice_crate::` or similar would not be a crate path.
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.push(ident(group[start..].trim_start()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(ident(group[start..].trim_start()));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.push(ident(rest));
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

#[test]
fn modules_use_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "main" {
            continue; // the binary, not part of the library
        }
        assert!(
            layer(&module).is_some(),
            "module `{module}` has no layer in tests/module_order.rs"
        );
        let text = std::fs::read_to_string(file).expect("source readable");
        for used in crate_uses(&text) {
            if used != module {
                edges.insert((module.clone(), used), file.clone());
            }
        }
    }
    let wrong: Vec<String> = edges
        .iter()
        .filter(|((from, to), _)| match (layer(from), layer(to)) {
            (Some(f), Some(t)) => t >= f,
            // An item of the crate root is the top layer.
            _ => from != "lib",
        })
        .map(|((from, to), file)| format!("{from} uses {to} ({})", file.display()))
        .collect();
    assert!(wrong.is_empty(), "uses against the layering: {wrong:#?}");
}

#[test]
fn the_parser_sees_grouped_and_inline_paths() {
    let text = "use crate::{a::B, c};\nlet x = crate::d::e();\nuse other_crate::f;";
    assert_eq!(crate_uses(text), ["a", "c", "d"]);
}
