//! The `pqvoice` binary as a user meets it: a mistake or an unreachable
//! registry gives one clear line on stderr, a non-zero exit, and no stack
//! trace; nothing is sent anywhere but loopback.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Output};

fn pqvoice(profile: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pqvoice"))
        .arg("--profile")
        .arg(profile)
        .args(args)
        // A user's shell may well have it set; the CLI must still print a
        // plain message.
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the pqvoice binary runs")
}

/// A loopback TCP port that nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

fn assert_fails_with(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {stderr}");
    assert!(
        stderr.contains(needle),
        "stderr should mention {needle:?}: {stderr}"
    );
    assert!(
        !stderr.contains("Stack backtrace") && !stderr.contains("panicked"),
        "stderr shows internals: {stderr}"
    );
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one line expected: {stderr}"
    );
}

#[test]
fn unreachable_registry_is_reported_plainly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("http://127.0.0.1:{}", closed_port());
    let out = pqvoice(dir.path(), &["--registry", &url, "register", "alice"]);
    assert_fails_with(&out, "cannot reach the registry");
}

#[test]
fn commands_that_need_an_account_say_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("http://127.0.0.1:{}", closed_port());
    for args in [
        vec!["--registry", &url, "call", "bob"],
        vec!["contacts"],
        vec!["safety-number", "bob"],
    ] {
        let out = pqvoice(dir.path(), &args);
        assert_fails_with(&out, "register first");
    }
}

#[test]
fn an_invalid_username_is_refused_before_any_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("http://127.0.0.1:{}", closed_port());
    let out = pqvoice(dir.path(), &["--registry", &url, "register", "A!"]);
    assert_fails_with(&out, "not a valid username");
}

#[test]
fn netsim_refuses_to_relay_off_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Bind a free port first so that only the forward address is at fault.
    let port = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let out = pqvoice(
        dir.path(),
        &["netsim", "--listen", &listen, "--forward", "192.0.2.1:5000"],
    );
    assert_fails_with(&out, "loopback");
}

/// The first non-loopback address of this machine, if it has one.
fn lan_address() -> Option<std::net::IpAddr> {
    let s = UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

#[test]
fn plain_http_beyond_loopback_needs_the_override() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Something listens on a LAN address; without the override the CLI
    // must refuse before connecting to it.
    let ip = lan_address().unwrap_or(std::net::IpAddr::from([192, 168, 1, 20]));
    let listener = std::net::TcpListener::bind((ip, 0)).ok();
    let url = match &listener {
        Some(l) => format!("http://{}", l.local_addr().expect("addr")),
        None => "http://192.168.1.20:5001".to_owned(),
    };
    let out = pqvoice(dir.path(), &["--registry", &url, "register", "alice"]);
    assert_fails_with(&out, "--allow-insecure-http");
    if let Some(l) = &listener {
        l.set_nonblocking(true).expect("nonblocking");
        assert!(
            l.accept().is_err(),
            "the CLI connected to a refused address"
        );
    }
    // Loopback http stays silent: no warning, only the unreachable error.
    let local = format!("http://127.0.0.1:{}", closed_port());
    let out = pqvoice(dir.path(), &["--registry", &local, "register", "alice"]);
    assert_fails_with(&out, "cannot reach the registry");

    // With the override (flag or environment) it warns and goes ahead: the
    // listener sees a connection, dropped at once, so the CLI then fails.
    let Some(listener) = listener else { return };
    let accepting = std::thread::spawn(move || {
        for _ in 0..2 {
            let _ = listener.accept();
        }
    });
    let with_flag = pqvoice(
        dir.path(),
        &[
            "--registry",
            &url,
            "--allow-insecure-http",
            "register",
            "alice",
        ],
    );
    let with_env = Command::new(env!("CARGO_BIN_EXE_pqvoice"))
        .arg("--profile")
        .arg(dir.path())
        .args(["--registry", &url, "register", "alice"])
        .env("PQVOICE_ALLOW_INSECURE_HTTP", "1")
        .output()
        .expect("the pqvoice binary runs");
    for out in [with_flag, with_env] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains("warning:") && stderr.contains("plain http://"),
            "{stderr}"
        );
        assert!(stderr.contains("cannot reach the registry"), "{stderr}");
    }
    accepting.join().expect("accept thread");
}

#[test]
fn a_malformed_registry_fingerprint_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("https://127.0.0.1:{}", closed_port());
    let out = pqvoice(
        dir.path(),
        &[
            "--registry",
            &url,
            "--registry-fingerprint",
            "ab:cd",
            "register",
            "alice",
        ],
    );
    assert_fails_with(&out, "--registry-fingerprint");
}
