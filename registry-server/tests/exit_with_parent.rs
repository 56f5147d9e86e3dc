//! `--exit-with-parent`: a registry started by another program (the desktop
//! app hosts one this way) shuts down by itself once that program is gone,
//! even when it was killed and could not stop the registry.
#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `pid` still runs (an exited child not yet reaped by its new
/// parent counts as gone).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
            !matches!(state, Some(Some('Z' | 'X')))
        }
        Err(_) => false,
    }
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Starts a short-lived parent (a shell that starts the registry in the
/// background, prints its pid, then becomes `sleep`) and returns the
/// parent's handle and the registry's pid once it listens.
fn registry_under_a_parent(dir: &Path, flag: bool) -> (std::process::Child, u32) {
    let registry = env!("CARGO_BIN_EXE_pqvoice-registry");
    let log = dir.join("registry.log");
    let script = format!(
        "\"$0\" --listen 127.0.0.1:0 --db \"$1\" {} >\"$2\" 2>&1 & echo $!; exec sleep 60",
        if flag { "--exit-with-parent" } else { "" }
    );
    let mut parent = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(registry)
        .arg(dir.join("reg.sqlite3"))
        .arg(&log)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the parent shell");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(parent.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("read the registry's pid");
    let pid: u32 = line.trim().parse().expect("a pid");
    assert!(
        wait_until(Duration::from_secs(20), || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("listening on"))
        }),
        "the registry did not start: {:?}",
        std::fs::read_to_string(&log)
    );
    (parent, pid)
}

fn kill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
}

#[test]
fn a_registry_with_exit_with_parent_stops_when_its_parent_is_killed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut parent, pid) = registry_under_a_parent(dir.path(), true);
    // It stays up while the parent lives (the check runs every second).
    std::thread::sleep(Duration::from_millis(1500));
    assert!(running(pid), "the registry quit while its parent ran");

    // SIGKILL: the parent gets no chance to stop its child.
    parent.kill().expect("kill the parent");
    parent.wait().expect("reap the parent");
    let stopped = wait_until(Duration::from_secs(10), || !running(pid));
    if !stopped {
        kill(pid);
    }
    let log = std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
    assert!(
        stopped,
        "the registry outlived its killed parent; log:\n{log}"
    );
    assert!(
        log.contains("the parent process exited") && log.contains("shutting down"),
        "not a graceful shutdown; log:\n{log}"
    );
}

#[test]
fn without_the_flag_the_registry_does_not_watch_its_parent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut parent, pid) = registry_under_a_parent(dir.path(), false);
    parent.kill().expect("kill the parent");
    parent.wait().expect("reap the parent");
    std::thread::sleep(Duration::from_millis(2500));
    let alive = running(pid);
    kill(pid);
    assert!(
        alive,
        "a stand-alone registry must keep running when its starter exits"
    );
}
