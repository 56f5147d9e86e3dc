//! One bad offer costs that call, never the listener: an echo bot that is
//! sent the crafted offer of issue 18 (`01 4F 00 00 …`, exactly one
//! signature long, which once panicked the offer parser) through the
//! registry refuses that call and then answers the next genuine one.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use engine::dial;
use engine::profile::Profile;
use engine::registry_client::{EventStream, RegistryClient, RegistryEvent};
use proto::identity::{HYBRID_SIGNATURE_ENCODED_LEN, IdentityKeyPair};
use proto::signaling::{ServerEvent, Username};

/// Kills the bot when the test ends, however it ends.
struct Bot(Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn online(client: &Arc<RegistryClient>) -> EventStream {
    let mut events = client.events(Vec::new());
    loop {
        match tokio::time::timeout(Duration::from_secs(15), events.next()).await {
            Ok(Some(RegistryEvent::Connected)) => return events,
            Ok(Some(_)) => {}
            other => panic!("not connected: {other:?}"),
        }
    }
}

/// Waits for the registry's word on call `id`.
async fn outcome(events: &mut EventStream, id: &proto::signaling::CallId) -> ServerEvent {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .expect("an answer within 20 s")
            .expect("events go on");
        if let RegistryEvent::Server(ev) = ev {
            match &ev {
                ServerEvent::Accepted { call_id, .. }
                | ServerEvent::Rejected { call_id }
                | ServerEvent::Ended { call_id, .. }
                | ServerEvent::Missed { call_id, .. }
                | ServerEvent::Busy { call_id, .. }
                    if call_id == id =>
                {
                    return ev;
                }
                _ => {}
            }
        }
    }
}

#[test]
fn the_echo_bot_refuses_a_crafted_offer_and_answers_the_next_call() {
    let server = common::registry();
    let (rt, dir, url) = (&server.rt, &server.dir, server.url.clone());

    let bob_dir = dir.path().join("bob");
    let reg = Command::new(env!("CARGO_BIN_EXE_pqvoice"))
        .arg("--profile")
        .arg(&bob_dir)
        .args(["--registry", &url, "register", "bob"])
        .output()
        .expect("register runs");
    assert!(
        reg.status.success(),
        "{}",
        String::from_utf8_lossy(&reg.stderr)
    );
    let mut bot = Bot(Command::new(env!("CARGO_BIN_EXE_pqvoice"))
        .arg("--profile")
        .arg(&bob_dir)
        .args(["--registry", &url, "echo-bot", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("echo bot starts"));
    let mut ready = String::new();
    BufReader::new(bot.0.stdout.take().expect("stdout"))
        .read_line(&mut ready)
        .expect("bot says it is ready");
    assert!(ready.contains("ready"), "{ready}");

    let bob = Username::parse("bob").expect("name");
    rt.block_on(async {
        // Mallory sends the crafted offer.
        let mallory = Arc::new(
            RegistryClient::new(
                &url,
                Username::parse("mallory").expect("name"),
                Arc::new(IdentityKeyPair::from_seed(&[6; 32])),
            )
            .expect("client"),
        );
        mallory.register().await.expect("mallory registers");
        let mut m_events = online(&mallory).await;
        let mut crafted = vec![0u8; HYBRID_SIGNATURE_ENCODED_LEN];
        crafted[0] = 1;
        crafted[1] = b'O';
        let status = mallory
            .initiate(&bob, crafted)
            .await
            .expect("the registry relays it");
        assert!(
            matches!(
                outcome(&mut m_events, &status.call_id).await,
                ServerEvent::Rejected { .. }
            ),
            "the bot refuses the crafted call"
        );

        // Then alice places a genuine call, and the bot answers it.
        let alice_identity = Arc::new(IdentityKeyPair::from_seed(&[5; 32]));
        let alice = Arc::new(
            RegistryClient::new(
                &url,
                Username::parse("alice").expect("name"),
                alice_identity.clone(),
            )
            .expect("client"),
        );
        alice.register().await.expect("alice registers");
        let mut a_events = online(&alice).await;
        let profile = Profile::open(dir.path().join("alice")).expect("profile");
        let (_socket, candidates) =
            dial::bind_media("127.0.0.1:0".parse().expect("addr"), None).expect("socket");
        let ringing = dial::place_call(&alice, &profile, &alice_identity, &bob, candidates)
            .await
            .expect("rings");
        let call_id = ringing.call_id.clone();
        match outcome(&mut a_events, &call_id).await {
            ServerEvent::Accepted { answer, .. } => {
                ringing
                    .answered(&answer.to_bytes())
                    .expect("the bot's answer verifies");
            }
            other => panic!("the bot did not answer the genuine call: {other:?}"),
        }
        let _ = alice.hangup(&call_id).await;
    });
    assert!(
        bot.0.try_wait().expect("status").is_none(),
        "the echo bot is still running"
    );
}
