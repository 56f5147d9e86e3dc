//! Guard: `proto` must stay free of I/O, clocks and async runtimes.
//!
//! Two checks that can each fail on their own: the normal (non-dev)
//! dependency tree must not contain crates that do I/O or read the clock, and
//! the source text must not call the OS clock, sockets, files or threads.

use std::path::Path;
use std::process::Command;

/// Crates that would let proto do I/O, read a clock or run tasks.
const FORBIDDEN_CRATES: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "mio",
    "socket2",
    "cpal",
    "opus",
    "audiopus",
    "audiopus_sys",
    "reqwest",
    "hyper",
    "axum",
    "tungstenite",
    "tokio-tungstenite",
    "chrono",
    "time",
    "quanta",
    "sqlx",
    "rusqlite",
    "tauri",
    "ringbuf",
];

/// Source patterns that mean the OS is being consulted.
const FORBIDDEN_PATTERNS: &[&str] = &[
    "Instant::now",
    "SystemTime::now",
    "std::net::",
    "std::fs::",
    "std::thread",
    "std::process",
    "std::env::var",
    "UNIX_EPOCH.elapsed",
];

#[test]
fn dependency_tree_has_no_io_or_clock_crates() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "pqvoice-proto",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree must run where cargo test runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).expect("cargo prints UTF-8");
    let mut offenders = Vec::new();
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if FORBIDDEN_CRATES.contains(&name) {
            offenders.push(line.to_owned());
        }
    }
    assert!(
        offenders.is_empty(),
        "proto depends on I/O crates: {offenders:?}"
    );
    assert!(
        tree.contains("pqvoice-proto"),
        "cargo tree output looked wrong: {tree}"
    );
}

#[test]
fn source_never_reads_the_clock_or_touches_the_os() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    let mut files = 0;
    visit(&src, &mut |path, text| {
        files += 1;
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for pat in FORBIDDEN_PATTERNS {
                if code.contains(pat) {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    });
    assert!(files > 0, "no source files found under {}", src.display());
    assert!(
        offenders.is_empty(),
        "proto touches the OS:\n{}",
        offenders.join("\n")
    );
}

fn visit(dir: &Path, f: &mut dyn FnMut(&Path, &str)) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            visit(&path, f);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source is UTF-8");
            f(&path, &text);
        }
    }
}
