//! Two CLIs call each other through a real registry, and both write the
//! same call into their history: the CLI's call flow is the engine's
//! `phone`, so the outcome on each side is the one docs/engine.md gives.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A running registry on loopback with its own database.
struct Registry {
    url: String,
    _rt: tokio::runtime::Runtime,
    _server: registry::Server,
    _dir: tempfile::TempDir,
}

fn registry() -> Registry {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tmp");
    let config = testkit::registry_config(dir.path());
    let server = rt
        .block_on(registry::Server::start(config))
        .expect("registry");
    Registry {
        url: format!("http://{}", server.addr),
        _rt: rt,
        _server: server,
        _dir: dir,
    }
}

fn pqvoice(reg: &Registry, profile: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pqvoice"));
    c.arg("--profile")
        .arg(profile)
        .args(["--registry", &reg.url]);
    c
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("pqvoice runs")
}

fn register(reg: &Registry, profile: &Path, name: &str) {
    let out = run(pqvoice(reg, profile).args(["register", name]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `pqvoice history` as (direction, peer, outcome) per line, newest first.
fn history(reg: &Registry, profile: &Path) -> Vec<(String, String, String)> {
    let out = run(pqvoice(reg, profile).arg("history"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[1].to_owned(), f[2].to_owned(), f[3].to_owned())
        })
        .collect()
}

/// One second of a 440 Hz tone, 48 kHz mono 16-bit PCM.
fn write_tone(path: &Path) {
    let samples: Vec<i16> = (0..48_000)
        .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 48_000.0).sin() * 8_000.0) as i16)
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&48_000u32.to_le_bytes());
    wav.extend_from_slice(&96_000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, wav).expect("write wav");
}

#[test]
fn a_cli_call_to_a_cli_answer_connects_and_both_record_it() {
    let reg = registry();
    let dir = tempfile::tempdir().expect("tmp");
    let (alice, bob) = (dir.path().join("alice"), dir.path().join("bob"));
    register(&reg, &alice, "alice");
    register(&reg, &bob, "bob");
    let tone = dir.path().join("tone.wav");
    write_tone(&tone);
    let dsp_off = ["--aec", "false", "--ns", "off", "--agc", "false"];

    let answer = pqvoice(&reg, &bob)
        .args(["answer", "--listen", "127.0.0.1:0", "--input"])
        .arg(&tone)
        .arg("--output")
        .arg(dir.path().join("bob-heard.wav"))
        .args(["--duration", "8"])
        .args(dsp_off)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("answer starts");
    // The answerer is online once the registry shows it so.
    std::thread::sleep(Duration::from_secs(2));
    let call = run(pqvoice(&reg, &alice)
        .args(["call", "bob", "--listen", "127.0.0.1:0", "--input"])
        .arg(&tone)
        .arg("--output")
        .arg(dir.path().join("alice-heard.wav"))
        .arg("--stats-json")
        .arg(dir.path().join("alice.json"))
        .args(dsp_off));
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
fn calling_someone_offline_fails_and_is_recorded_missed() {
    let reg = registry();
    let dir = tempfile::tempdir().expect("tmp");
    let (alice, bob) = (dir.path().join("alice"), dir.path().join("bob"));
    register(&reg, &alice, "alice");
    register(&reg, &bob, "bob");
    let call = run(pqvoice(&reg, &alice).args(["call", "bob", "--listen", "127.0.0.1:0"]));
    let err = String::from_utf8_lossy(&call.stderr);
    assert!(!call.status.success(), "{err}");
    assert!(err.contains("bob is not connected"), "{err}");
    assert_eq!(
        history(&reg, &alice)[0],
        ("Outgoing".into(), "bob".into(), "Missed".into())
    );
}
