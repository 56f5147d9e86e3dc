//! A `call` that ends on its own (`--duration`) tells the registry before
//! the process exits: the same two users can call again at once. The
//! registry keeps its default disconnect grace (30 s), so a hang-up lost
//! at exit would hold both "in a call" and refuse the next round.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Registry, registry, write_tone};

/// Starts `pqvoice answer` and returns once it is online (it says it
/// waits), with a thread collecting the rest of its stderr.
fn answer(reg: &Registry, profile: &Path, tone: &Path, heard: &Path) -> (Child, Reader) {
    let mut child = reg
        .media_command(profile, &["answer"], tone, heard)
        // Long: the caller's hang-up is what ends the call.
        .args(["--duration", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("answer starts");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = err.read_line(&mut line).expect("answer's stderr");
        seen.push_str(&line);
        assert!(n > 0, "answer stopped before it waited:\n{seen}");
        if line.contains("waiting for a call") {
            break;
        }
    }
    let rest = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
        seen + &rest
    });
    (child, rest)
}

type Reader = std::thread::JoinHandle<String>;

/// Waits for `child` to exit (bounded), returning its status success.
fn wait(mut child: Child, what: &str, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.success();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn call(reg: &Registry, profile: &Path, tone: &Path, heard: &Path) -> Command {
    let mut c = reg.media_command(profile, &["call", "bob"], tone, heard);
    c.args(["--duration", "1.5"]);
    c
}

#[test]
fn the_same_two_users_can_call_again_right_after_a_call_ends() {
    let reg = registry();
    let (dir, alice, bob) = reg.alice_and_bob();
    let tone = dir.path().join("tone.wav");
    write_tone(&tone);

    // Several rounds, each started the moment both processes of the last
    // one exited: any lost hang-up refuses the next round for 30 s.
    for round in 0..4 {
        let (answerer, answer_err) = answer(
            &reg,
            &bob,
            &tone,
            &dir.path().join(format!("bob-{round}.wav")),
        );
        let out = call(
            &reg,
            &alice,
            &tone,
            &dir.path().join(format!("alice-{round}.wav")),
        )
        .output()
        .expect("call runs");
        let call_err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            // The answer waits on: stop it, and show both sides.
            let mut answerer = answerer;
            let _ = answerer.kill();
            let _ = answerer.wait();
            let answer_err = answer_err.join().expect("stderr reader");
            panic!("round {round}: the call fails:\n{call_err}\n--- answer:\n{answer_err}");
        }
        let answered = wait(answerer, "answer", Duration::from_secs(15));
        let answer_err = answer_err.join().expect("stderr reader");
        assert!(
            !call_err.contains("still sees you in a call"),
            "round {round}:\n{call_err}"
        );
        assert!(
            call_err.contains("connected; SAS"),
            "round {round}:\n{call_err}"
        );
        assert!(
            answered,
            "round {round}: the answer fails:\n{answer_err}\n--- call:\n{call_err}"
        );
    }
}
