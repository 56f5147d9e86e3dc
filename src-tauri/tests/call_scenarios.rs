//! The scenario table of `testkit::scenarios`, played through the app:
//! every party is an app instance (Tauri's mock runtime, the real
//! capability files, silent audio) driven by the commands the page sends,
//! over a real registry on loopback. What each party is told (the
//! `call-state` event that ends the call, or the command's error) and what
//! each history records must be the row's. The CLI's test
//! (`crates/cli/tests/call_scenarios.rs`) plays the same table.

mod common;

use std::time::Duration;

use common::TestApp;
use serde_json::{Value, json};
use testkit::scenarios::{Direction, End, Outcome, Row, SCENARIOS, Scenario, Seen, seen};

impl TestApp {
    /// A new app signed up as `name`, once its push connection is up.
    fn signed_up(reg: &str, name: &str) -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let mut me = TestApp::listening(
            dir.path(),
            reg,
            &["incoming-call", "call-state", "registry-status"],
        )
        .owning(dir);
        me.ok("sign_up", json!({"registryUrl": reg, "username": name}));
        me.wait_event("registry-status", "connected", |v| {
            v["state"] == "connected"
        });
        me
    }

    fn wait_state(&mut self, id: &str, state: &str) -> Value {
        self.wait_event("call-state", state, |v| {
            v["callId"] == id && v["state"] == state
        })
    }

    /// How call `id` ended here, as the table's [`End`].
    fn ended(&mut self, id: &str) -> End {
        let v = self.wait_state(id, "ended");
        match v["reason"].as_str().expect("an ended call has a reason") {
            "hung-up" => End::HungUp,
            "remote-hung-up" => End::RemoteHungUp,
            "cancelled" => End::Cancelled,
            "rejected" => End::Rejected,
            "missed" => End::Missed,
            "busy" => End::Busy,
            "offline" => End::Offline,
            other => panic!("an end the table does not know: {other}"),
        }
    }

    /// Rings `callee` and waits for its popup; the registry's call id.
    fn ring(&self, callee: &mut TestApp, name: &str) -> String {
        let snap = self.ok("start_call", json!({"username": name}));
        let id = snap["callId"].as_str().expect("id").to_owned();
        callee.wait_event("incoming-call", "the ring", |v| v["callId"] == id.as_str());
        id
    }

    /// Rings, answers, and waits until both talk.
    fn talk(&mut self, callee: &mut TestApp, name: &str) -> String {
        let id = self.ring(callee, name);
        callee.ok("accept_call", json!({"callId": id}));
        self.wait_state(&id, "active");
        callee.wait_state(&id, "active");
        id
    }

    /// The history about `peer`, oldest first.
    fn history(&self, peer: &str) -> Vec<(Direction, Outcome)> {
        let h = self.ok("history", json!({}));
        let mut out: Vec<_> = h
            .as_array()
            .expect("a list")
            .iter()
            .filter(|e| e["peer"] == peer)
            .map(|e| {
                let d = match e["direction"].as_str() {
                    Some("outgoing") => Direction::Outgoing,
                    Some("incoming") => Direction::Incoming,
                    other => panic!("unknown direction {other:?}"),
                };
                let o = match e["outcome"].as_str() {
                    Some("answered") => Outcome::Completed,
                    Some("missed") => Outcome::Missed,
                    Some("rejected") => Outcome::Rejected,
                    Some("cancelled") => Outcome::Cancelled,
                    Some("busy") => Outcome::Busy,
                    Some("failed") => Outcome::Failed,
                    other => panic!("unknown outcome {other:?}"),
                };
                (d, o)
            })
            .collect();
        // The app lists the newest first.
        out.reverse();
        out
    }
}

/// A registry on a free loopback port with a fresh database; the server
/// runs on the shared runtime for the rest of the test process.
fn registry(ring_timeout: Duration) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let mut c = testkit::registry_config(dir.path());
    c.ring_timeout = ring_timeout;
    let server = tauri::async_runtime::block_on(registry::Server::start(c)).expect("registry");
    let url = format!("http://{}", server.addr);
    std::mem::forget(server);
    (url, dir)
}

/// A name at the registry with no app behind it, signed in with `seed`'s key.
fn bare(url: &str, name: &str, seed: u8) -> engine::registry_client::RegistryClient {
    engine::registry_client::RegistryClient::new(
        url,
        testkit::name(name),
        std::sync::Arc::new(proto::identity::IdentityKeyPair::from_seed(&[seed; 32])),
    )
    .expect("client")
}

/// Plays `row` with alice calling bob; returns what each saw.
fn play(row: &Row) -> (Seen, Seen) {
    let (url, _dir) = registry(row.ring_timeout());
    let url = url.as_str();
    match row.scenario {
        Scenario::CallerHangsUp | Scenario::CalleeHangsUp => {
            let mut alice = TestApp::signed_up(url, "alice");
            let mut bob = TestApp::signed_up(url, "bob");
            let id = alice.talk(&mut bob, "bob");
            let who = if row.scenario == Scenario::CallerHangsUp {
                &alice
            } else {
                &bob
            };
            who.ok("hang_up", json!({"callId": id}));
            let (a, b) = (alice.ended(&id), bob.ended(&id));
            (
                seen(Some(a), alice.history("bob")),
                seen(Some(b), bob.history("alice")),
            )
        }
        Scenario::Rejected | Scenario::CancelledWhileRinging | Scenario::Missed => {
            let mut alice = TestApp::signed_up(url, "alice");
            let mut bob = TestApp::signed_up(url, "bob");
            let id = alice.ring(&mut bob, "bob");
            match row.scenario {
                Scenario::Rejected => {
                    bob.ok("reject_call", json!({"callId": id}));
                }
                Scenario::CancelledWhileRinging => {
                    alice.ok("cancel_call", json!({"callId": id}));
                }
                _ => {}
            }
            let (a, b) = (alice.ended(&id), bob.ended(&id));
            (
                seen(Some(a), alice.history("bob")),
                seen(Some(b), bob.history("alice")),
            )
        }
        Scenario::CalleeOffline => {
            let mut alice = TestApp::signed_up(url, "alice");
            tauri::async_runtime::block_on(bare(url, "bob", 1).register()).expect("registers");
            let snap = alice.ok("start_call", json!({"username": "bob"}));
            let id = snap["callId"].as_str().expect("id").to_owned();
            let a = alice.ended(&id);
            (seen(Some(a), alice.history("bob")), Seen::NOTHING)
        }
        Scenario::Busy => {
            let mut alice = TestApp::signed_up(url, "alice");
            let mut bob = TestApp::signed_up(url, "bob");
            let mut carol = TestApp::signed_up(url, "carol");
            let busy_with = carol.talk(&mut bob, "bob");
            let snap = alice.ok("start_call", json!({"username": "bob"}));
            let id = snap["callId"].as_str().expect("id").to_owned();
            let a = alice.ended(&id);
            carol.ok("hang_up", json!({"callId": busy_with}));
            bob.ended(&busy_with);
            // Alice's call never rang at bob's.
            let b = bob
                .seen
                .iter()
                .any(|(n, v)| n == "incoming-call" && v["callId"] == id.as_str())
                .then_some(End::Missed);
            (
                seen(Some(a), alice.history("bob")),
                seen(b, bob.history("alice")),
            )
        }
        Scenario::KeyChangedRefused => {
            let alice = TestApp::signed_up(url, "alice");
            let bob = bare(url, "bob", 1);
            tauri::async_runtime::block_on(bob.register()).expect("registers");
            let shown = alice.ok("safety_number", json!({"username": "bob"}));
            alice.ok(
                "mark_verified",
                json!({"username": "bob", "fingerprint": shown["fingerprint"]}),
            );
            let new = proto::identity::IdentityKeyPair::from_seed(&[2; 32]);
            tauri::async_runtime::block_on(bob.rotate_key(&new)).expect("bob's key moves");
            let e = alice
                .invoke("start_call", json!({"username": "bob"}))
                .expect_err("a changed key is refused");
            let a = match e["kind"].as_str() {
                Some("key-changed") => End::KeyChanged,
                other => panic!("an end the table does not know: {other:?}"),
            };
            (seen(Some(a), alice.history("bob")), Seen::NOTHING)
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
