//! The scenario table of `testkit::scenarios`, played through the CLI: each
//! row's caller is `pqvoice call`, and its callee `pqvoice answer` where the
//! CLI has a command for what the callee does. The CLI has none for
//! declining or for leaving a call ringing, so in those rows the callee is
//! `engine::phone::Phone`, the driver the CLI runs, with no front end of
//! its own. What each party is told (the exit status and message, or the
//! phone's end reason) and what each history records must be the row's.
//! The app's test (`src-tauri/tests/call_scenarios.rs`) plays the same
//! table.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Registry, write_tone};
use engine::account;
use engine::audio::AudioIo;
use engine::call::CallOptions;
use engine::contacts::Trust;
use engine::phone::{
    CallSnapshot, CallState, EndReason, NetSettings, Phone, PhoneEvent, PhoneHooks,
};
use engine::profile::Profile;
use engine::recent_offers::RecentOffers;
use engine::registry_client::{RegistryClient, RegistryEvent};
use proto::identity::IdentityKeyPair;
use testkit::scenarios::{Direction, End, Outcome, Row, SCENARIOS, Scenario, Seen, seen};
use tokio::sync::mpsc::UnboundedReceiver;

fn registry(ring_timeout: Duration) -> Registry {
    common::registry_with(|config| config.ring_timeout = ring_timeout)
}

impl Registry {
    fn profile(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn pqvoice(&self, name: &str) -> Command {
        self.command(&self.profile(name))
    }

    fn register(&self, name: &str) {
        let out = ok(self.pqvoice(name).args(["register", name]).output());
        assert!(out.status.success(), "{}", stderr(&out));
    }

    /// `name`'s history about `peer`, oldest first, as `pqvoice history`
    /// prints it.
    fn history(&self, name: &str, peer: &str) -> Vec<(Direction, Outcome)> {
        let out = ok(self.pqvoice(name).arg("history").output());
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f.get(2) == Some(&peer)).then(|| (direction(f[1]), outcome(f[3])))
            })
            .collect()
    }

    /// `pqvoice call peer` with a tone in and the sound to a file, in the
    /// background.
    fn call(&self, name: &str, peer: &str, extra: &[&str]) -> Running {
        self.media(name, "call", extra, Some(peer))
    }

    /// `pqvoice answer` in the background, once it waits for a call.
    fn answer(&self, name: &str, extra: &[&str]) -> Running {
        let r = self.media(name, "answer", extra, None);
        r.wait_for("waiting for a call");
        r
    }

    fn media(&self, name: &str, cmd: &str, extra: &[&str], peer: Option<&str>) -> Running {
        let tone = self.dir.path().join("tone.wav");
        if !tone.exists() {
            write_tone(&tone);
        }
        let mut c = self.pqvoice(name);
        c.arg(cmd).args(peer);
        c.args(["--listen", "127.0.0.1:0", "--input"])
            .arg(&tone)
            .arg("--output")
            .arg(self.dir.path().join(format!("{name}-heard.wav")))
            .args(["--aec", "false", "--ns", "off", "--agc", "false"])
            .args(extra);
        Running::spawn(c)
    }
}

fn ok(out: std::io::Result<Output>) -> Output {
    out.expect("pqvoice runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn direction(s: &str) -> Direction {
    match s {
        "Outgoing" => Direction::Outgoing,
        "Incoming" => Direction::Incoming,
        other => panic!("unknown direction {other:?}"),
    }
}

fn outcome(s: &str) -> Outcome {
    match s {
        "Completed" => Outcome::Completed,
        "Missed" => Outcome::Missed,
        "Rejected" => Outcome::Rejected,
        "Cancelled" => Outcome::Cancelled,
        "Busy" => Outcome::Busy,
        "Failed" => Outcome::Failed,
        other => panic!("unknown outcome {other:?}"),
    }
}

/// A `pqvoice` process in the background, its stderr collected as it
/// comes.
struct Running {
    child: Child,
    err: Arc<Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl Running {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pqvoice starts");
        let pipe = child.stderr.take().expect("piped");
        let err = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&err);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().expect("not poisoned");
                s.push_str(&line);
                s.push('\n');
            }
        });
        Self { child, err, reader }
    }

    fn wait_for(&self, text: &str) {
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if self.err.lock().expect("not poisoned").contains(text) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "no {text:?} from pqvoice:\n{}",
            self.err.lock().expect("not poisoned")
        );
    }

    /// Ctrl-C, as a user at the terminal would press it.
    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// What the finished command told its user.
    fn told(mut self) -> End {
        let end = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("waits") {
                break s;
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!("pqvoice did not end");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = self.reader.join();
        let err = self.err.lock().expect("not poisoned").clone();
        told(status.success(), &err)
    }
}

/// The CLI's words for each end, as the table's [`End`].
fn told(success: bool, err: &str) -> End {
    let last = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    if success {
        if last.contains("the other side hung up") {
            End::RemoteHungUp
        } else if last.contains("hung up") || last.contains("call finished") {
            End::HungUp
        } else {
            panic!("a successful call without an end:\n{err}")
        }
    } else if last.contains("rejected the call") {
        End::Rejected
    } else if last.contains("is busy") {
        End::Busy
    } else if last.contains("did not answer") {
        End::Missed
    } else if last.contains("is not connected to the registry") {
        End::Offline
    } else if last.contains("key changed") {
        End::KeyChanged
    } else if last.contains("cancelled") {
        End::Cancelled
    } else {
        panic!("an end the table does not know:\n{err}")
    }
}

/// The engine's end reasons as the table's.
fn end_of(s: &CallSnapshot) -> End {
    match s.end.as_ref().map(|e| e.0) {
        Some(EndReason::HungUp) => End::HungUp,
        Some(EndReason::RemoteHungUp) => End::RemoteHungUp,
        Some(EndReason::Cancelled) => End::Cancelled,
        Some(EndReason::Rejected) => End::Rejected,
        Some(EndReason::Missed) => End::Missed,
        Some(EndReason::Busy) => End::Busy,
        Some(EndReason::Offline) => End::Offline,
        other => panic!("an end the table does not know: {other:?}"),
    }
}

/// A callee the CLI cannot play: the engine's phone, which only rings.
struct StandIn {
    phone: Phone,
    events: UnboundedReceiver<PhoneEvent>,
    profile: Profile,
}

struct NoMedia;

impl PhoneHooks for NoMedia {
    fn trust_of(&self, _peer: &proto::signaling::Username) -> Trust {
        Trust::Unverified
    }

    fn net_settings(&self) -> NetSettings {
        // It never answers; what it gathers while ringing stays on loopback.
        NetSettings {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            ..NetSettings::default()
        }
    }

    fn open_media(&self, _call: &CallSnapshot) -> Result<(AudioIo, CallOptions), String> {
        Err("this phone only rings".into())
    }
}

impl StandIn {
    fn start(reg: &Registry, name: &str) -> Self {
        let identity = Arc::new(IdentityKeyPair::from_seed(&[9; 32]));
        let client = Arc::new(
            RegistryClient::new(&reg.url, testkit::name(name), identity.clone()).expect("client"),
        );
        let profile = Profile::open(reg.profile(name)).expect("profile");
        reg.rt.block_on(async {
            client.register().await.expect("registers");
            let (phone, mut events) = Phone::start(
                client,
                identity,
                profile.clone(),
                RecentOffers::empty(&profile),
                Arc::new(NoMedia),
                Vec::new(),
            );
            loop {
                match tokio::time::timeout(Duration::from_secs(20), events.recv()).await {
                    Ok(Some(PhoneEvent::Registry(RegistryEvent::Connected))) => break,
                    Ok(Some(_)) => {}
                    other => panic!("{name} not online: {other:?}"),
                }
            }
            Self {
                phone,
                events,
                profile,
            }
        })
    }

    /// The next snapshot of the call in `state`.
    fn wait(&mut self, reg: &Registry, state: CallState) -> CallSnapshot {
        reg.rt.block_on(async {
            loop {
                match tokio::time::timeout(Duration::from_secs(20), self.events.recv()).await {
                    Ok(Some(PhoneEvent::Call(s))) if s.state == state => return s,
                    Ok(Some(_)) => {}
                    other => panic!("waiting for {state:?}: {other:?}"),
                }
            }
        })
    }

    fn history(&self, peer: &str) -> Vec<(Direction, Outcome)> {
        account::history(&self.profile)
            .expect("history")
            .into_iter()
            .filter(|h| h.peer == peer)
            .map(|h| {
                let d = format!("{:?}", h.direction);
                let o = format!("{:?}", h.outcome);
                (direction(&d), outcome(&o))
            })
            .collect()
    }
}

/// Plays `row` with alice calling bob; returns what each saw.
fn play(row: &Row) -> (Seen, Seen) {
    let reg = registry(row.ring_timeout());
    match row.scenario {
        Scenario::CallerHangsUp | Scenario::CalleeHangsUp => {
            reg.register("alice");
            reg.register("bob");
            let (mine, theirs) = if row.scenario == Scenario::CallerHangsUp {
                (["--duration", "2"], ["--duration", "30"])
            } else {
                (["--duration", "30"], ["--duration", "2"])
            };
            let bob = reg.answer("bob", &theirs);
            let alice = reg.call("alice", "bob", &mine);
            let (a, b) = (alice.told(), bob.told());
            (
                seen(Some(a), reg.history("alice", "bob")),
                seen(Some(b), reg.history("bob", "alice")),
            )
        }
        Scenario::Rejected | Scenario::CancelledWhileRinging | Scenario::Missed => {
            reg.register("alice");
            let mut bob = StandIn::start(&reg, "bob");
            let alice = reg.call("alice", "bob", &[]);
            let ringing = bob.wait(&reg, CallState::RingingIn);
            match row.scenario {
                Scenario::Rejected => reg
                    .rt
                    .block_on(bob.phone.reject(ringing.call))
                    .expect("it rings"),
                Scenario::CancelledWhileRinging => {
                    alice.wait_for("ringing bob");
                    // The CLI watches for Ctrl-C once it printed that it
                    // rings; give it a moment to get there.
                    std::thread::sleep(Duration::from_millis(300));
                    alice.interrupt();
                }
                _ => {}
            }
            let b = end_of(&bob.wait(&reg, CallState::Ended));
            let a = alice.told();
            (
                seen(Some(a), reg.history("alice", "bob")),
                seen(Some(b), bob.history("alice")),
            )
        }
        Scenario::CalleeOffline => {
            reg.register("alice");
            reg.register("bob");
            let a = reg.call("alice", "bob", &[]).told();
            (
                seen(Some(a), reg.history("alice", "bob")),
                seen(None, reg.history("bob", "alice")),
            )
        }
        Scenario::Busy => {
            reg.register("alice");
            reg.register("bob");
            reg.register("carol");
            let bob = reg.answer("bob", &["--duration", "60"]);
            let carol = reg.call("carol", "bob", &["--duration", "60"]);
            carol.wait_for("connected; SAS");
            let a = reg.call("alice", "bob", &[]).told();
            carol.interrupt();
            assert_eq!(carol.told(), End::HungUp);
            assert_eq!(bob.told(), End::RemoteHungUp);
            (
                seen(Some(a), reg.history("alice", "bob")),
                seen(None, reg.history("bob", "alice")),
            )
        }
        Scenario::KeyChangedRefused => {
            reg.register("alice");
            // Bob is a name at the registry only: his key moves.
            let bob = |seed: u8| {
                RegistryClient::new(
                    &reg.url,
                    testkit::name("bob"),
                    Arc::new(IdentityKeyPair::from_seed(&[seed; 32])),
                )
                .expect("client")
            };
            reg.rt.block_on(bob(1).register()).expect("bob registers");
            let shown = ok(reg.pqvoice("alice").args(["safety-number", "bob"]).output());
            let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
            let digits = shown
                .lines()
                .find_map(|l| l.trim().strip_prefix("safety number"))
                .expect("a safety number")
                .trim()
                .to_owned();
            let trusted = ok(reg
                .pqvoice("alice")
                .args(["trust", "bob", "--safety-number", &digits])
                .output());
            assert!(trusted.status.success(), "{}", stderr(&trusted));
            reg.rt
                .block_on(bob(1).rotate_key(&IdentityKeyPair::from_seed(&[2; 32])))
                .expect("bob's name moves to a new key");
            let a = reg.call("alice", "bob", &[]).told();
            (seen(Some(a), reg.history("alice", "bob")), Seen::NOTHING)
        }
    }
}

#[test]
fn every_scenario_ends_and_is_recorded_as_the_table_says() {
    for row in SCENARIOS {
        let (caller, callee) = play(row);
        row.check(caller, callee);
    }
}
