//! Two CLIs call each other through a real registry, and both write the
//! same call into their history: the CLI's call flow is the engine's
//! `phone`, so the outcome on each side is the one docs/engine.md gives.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{Registry, registry, write_tone};

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("pqvoice runs")
}

/// `pqvoice history` as (direction, peer, outcome) per line, newest first.
fn history(reg: &Registry, profile: &Path) -> Vec<(String, String, String)> {
    let out = run(reg.command(profile).arg("history"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[1].to_owned(), f[2].to_owned(), f[3].to_owned())
        })
        .collect()
}

#[test]
fn a_cli_call_to_a_cli_answer_connects_and_both_record_it() {
    let reg = registry();
    let (dir, alice, bob) = reg.alice_and_bob();
    let tone = dir.path().join("tone.wav");
    write_tone(&tone);

    let answer = reg
        .media_command(&bob, &["answer"], &tone, &dir.path().join("bob-heard.wav"))
        .args(["--duration", "8"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("answer starts");
    // The answerer is online once the registry shows it so.
    std::thread::sleep(Duration::from_secs(2));
    let call = run(reg
        .media_command(
            &alice,
            &["call", "bob"],
            &tone,
            &dir.path().join("alice-heard.wav"),
        )
        .arg("--stats-json")
        .arg(dir.path().join("alice.json")));
    let call_err = String::from_utf8_lossy(&call.stderr);
    assert!(call.status.success(), "the call fails:\n{call_err}");
    assert!(call_err.contains("connected; SAS"), "{call_err}");
    let answered = answer.wait_with_output().expect("answer ends");
    let answer_err = String::from_utf8_lossy(&answered.stderr);
    assert!(answered.status.success(), "the answer fails:\n{answer_err}");
    // The same SAS on both sides.
    let sas = |text: &str| {
        text.split("SAS ")
            .map(|rest| rest.chars().take(7).collect::<String>())
            .find(|s| s.len() == 7 && s.chars().all(|c| c.is_ascii_digit() || c == ' '))
    };
    assert!(sas(&call_err).is_some(), "{call_err}");
    assert_eq!(sas(&call_err), sas(&answer_err), "{call_err}\n{answer_err}");
    let stats: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("alice.json")).expect("stats written"),
    )
    .expect("json");
    assert!(stats["stats"]["packets_received"].as_u64() > Some(10));
    // Which path carried the call: both on loopback, so direct over IPv4,
    // without a path switch or relay overhead.
    assert_eq!(stats["stats"]["path"], "direct", "{stats}");
    assert_eq!(stats["stats"]["ip_version"], 4, "{stats}");
    assert_eq!(stats["stats"]["relay_overhead_bytes"], 0, "{stats}");
    assert!(stats["stats"]["path_switches"].is_u64(), "{stats}");

    assert_eq!(
        history(&reg, &alice)[0],
        ("Outgoing".into(), "bob".into(), "Completed".into())
    );
    assert_eq!(
        history(&reg, &bob)[0],
        ("Incoming".into(), "alice".into(), "Completed".into())
    );
}

#[test]
fn always_relay_without_a_relay_fails_before_ringing_and_says_why() {
    // The tests' registry configures no TURN relay.
    let reg = registry();
    // The directory holds both profiles: kept to the end.
    let (_dir, alice, _bob) = reg.alice_and_bob();
    let call = run(reg.command(&alice).args([
        "call",
        "bob",
        "--listen",
        "127.0.0.1:0",
        "--always-relay",
        "--stun-server",
        "127.0.0.1:9",
    ]));
    let err = String::from_utf8_lossy(&call.stderr);
    assert!(!call.status.success(), "{err}");
    assert!(
        err.contains("always relay is on, but the registry offers no relay"),
        "{err}"
    );
    assert!(!err.contains("ringing"), "nothing rang: {err}");
    assert_eq!(
        history(&reg, &alice)[0],
        ("Outgoing".into(), "bob".into(), "Failed".into())
    );
}

#[test]
fn calling_someone_offline_fails_and_is_recorded_missed() {
    let reg = registry();
    // The directory holds both profiles: kept to the end.
    let (_dir, alice, _bob) = reg.alice_and_bob();
    let call = run(reg
        .command(&alice)
        .args(["call", "bob", "--listen", "127.0.0.1:0"]));
    let err = String::from_utf8_lossy(&call.stderr);
    assert!(!call.status.success(), "{err}");
    assert!(err.contains("bob is not connected"), "{err}");
    assert_eq!(
        history(&reg, &alice)[0],
        ("Outgoing".into(), "bob".into(), "Missed".into())
    );
}
