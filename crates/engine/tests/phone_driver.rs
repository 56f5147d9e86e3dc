//! `engine::phone::Phone` against a real registry: two phones call each
//! other over loopback with silent audio. The driver carries out what the
//! controller decides (steps, checks, media) and a panic in one call's job
//! costs that call only.

#[path = "common/phones.rs"]
mod phones;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use engine::account::{self, Direction, Outcome};
use engine::audio::{AudioBackend, NullAudio};
use engine::call::{Call, CallHandle, CallOptions};
use engine::dsp::DspConfig;
use engine::net::MediaTransport;
use engine::phone::{CallState, EndReason, PhoneEvent, SetupError};
use engine::profile::Profile;
use phones::{Quiet, User, registry, snapshot};
use proto::identity::IdentityKeyPair;
use proto::signaling::Username;

async fn user(url: &str, dir: &Path, name: &str, seed: u8) -> User {
    user_with(url, dir, name, seed, Quiet::default()).await
}

async fn user_with(url: &str, dir: &Path, name: &str, seed: u8, hooks: Quiet) -> User {
    phones::user(url, dir, name, seed, hooks, true).await
}

/// The `nth` newest history entry, waiting a moment for it: the peer may
/// hear of the end before this side's history file is written.
fn outcome(profile: &Profile, nth: usize) -> (Direction, Outcome) {
    for _ in 0..100 {
        let h = account::history(profile).expect("history");
        if let Some(e) = h.len().checked_sub(nth + 1).map(|i| &h[i]) {
            return (e.direction, e.outcome);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no history entry {nth}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phones_reject_then_talk_and_hang_up() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_server, url) = registry(dir.path()).await;
    let mut alice = user(&url, dir.path(), "alice", 1).await;
    let mut bob = user(&url, dir.path(), "bob", 2).await;
    let bob_name = Username::parse("bob").expect("name");

    // Declined.
    let ringing = alice.phone.place(bob_name.clone()).await.expect("rings");
    assert_eq!(ringing.state, CallState::RingingOut);
    let inc = snapshot(&mut bob, "ringing", |s| s.state == CallState::RingingIn).await;
    assert_eq!(inc.id, ringing.id);
    // One call at a time.
    assert_eq!(
        alice.phone.place(bob_name.clone()).await,
        Err(SetupError::Phone(engine::phone::PhoneError::Busy))
    );
    bob.phone.reject(inc.call).await.expect("ringing");
    let end = snapshot(&mut alice, "rejected", |s| s.state == CallState::Ended).await;
    assert_eq!(end.end.map(|e| e.0), Some(EndReason::Rejected));

    // Answered, active on both sides with one SAS, hung up by alice.
    let ringing = alice.phone.place(bob_name.clone()).await.expect("rings");
    let inc = snapshot(&mut bob, "ringing", |s| s.state == CallState::RingingIn).await;
    let connecting = bob.phone.accept(inc.call).await.expect("answers");
    assert_eq!(connecting.state, CallState::Connecting);
    let a = snapshot(&mut alice, "active", |s| s.state == CallState::Active).await;
    let b = snapshot(&mut bob, "active", |s| s.state == CallState::Active).await;
    assert_eq!(a.sas, b.sas);
    assert!(a.sas.is_some());
    alice
        .phone
        .set_muted(ringing.call, true)
        .await
        .expect("in a call");
    alice.phone.hang_up(ringing.call).await.expect("in a call");
    // A second hang-up while the media stops changes nothing.
    alice.phone.hang_up(ringing.call).await.expect("stopping");
    let a = snapshot(&mut alice, "ended", |s| s.state == CallState::Ended).await;
    let b = snapshot(&mut bob, "ended", |s| s.state == CallState::Ended).await;
    assert_eq!(a.end.map(|e| e.0), Some(EndReason::HungUp));
    assert_eq!(b.end.map(|e| e.0), Some(EndReason::RemoteHungUp));
    assert_eq!(
        outcome(&alice.profile, 0),
        (Direction::Outgoing, Outcome::Completed)
    );
    assert_eq!(
        outcome(&alice.profile, 1),
        (Direction::Outgoing, Outcome::Rejected)
    );
    assert_eq!(
        outcome(&bob.profile, 0),
        (Direction::Incoming, Outcome::Completed)
    );
    assert_eq!(account::history(&alice.profile).expect("history").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_while_checking_an_offer_costs_that_call_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_server, url) = registry(dir.path()).await;
    let mut alice = user(&url, dir.path(), "alice", 1).await;
    let mut bob = user(&url, dir.path(), "bob", 2).await;
    let bob_name = Username::parse("bob").expect("name");

    bob.phone.fault_next_offer_check();
    let first = alice.phone.place(bob_name.clone()).await.expect("rings");
    let end = snapshot(&mut alice, "refused", |s| s.state == CallState::Ended).await;
    assert_eq!(end.end.map(|e| e.0), Some(EndReason::Rejected));
    assert_eq!(
        outcome(&bob.profile, 0),
        (Direction::Incoming, Outcome::Failed)
    );

    // The next call rings, and a panic while answering it ends it alone.
    let second = alice.phone.place(bob_name.clone()).await.expect("rings");
    assert_ne!(second.id, first.id);
    let inc = snapshot(&mut bob, "ringing", |s| s.state == CallState::RingingIn).await;
    bob.phone.fault_next_accept();
    assert!(bob.phone.accept(inc.call).await.is_err());
    let end = snapshot(&mut alice, "ended", |s| s.state == CallState::Ended).await;
    assert_ne!(end.end.map(|e| e.0), Some(EndReason::HungUp));

    // And the third connects.
    alice.phone.place(bob_name).await.expect("rings");
    let inc = snapshot(&mut bob, "ringing", |s| s.state == CallState::RingingIn).await;
    bob.phone.accept(inc.call).await.expect("answers");
    snapshot(&mut alice, "active", |s| s.state == CallState::Active).await;
    bob.phone.hang_up(inc.call).await.expect("in a call");
    snapshot(&mut alice, "ended", |s| s.state == CallState::Ended).await;
}

/// Agrees a call's keys in process, as the app's local echo test does:
/// (caller, callee) for the media sockets at `caller_addr` and
/// `callee_addr`.
fn local_handshake(
    caller_addr: SocketAddr,
    callee_addr: SocketAddr,
) -> (proto::handshake::Established, proto::handshake::Established) {
    use proto::handshake::{
        Answer, Candidate, CandidateKind, ExpectAnswer, HandshakeCallId, Offer, OfferParams,
        OfferPolicy,
    };
    let alice = IdentityKeyPair::from_seed(&[1; 32]);
    let bot = IdentityKeyPair::from_seed(&[9; 32]);
    let now = engine::dial::unix_now();
    let params = OfferParams {
        call_id: HandshakeCallId([3; 16]),
        caller: "alice".into(),
        callee: "echo".into(),
        candidates: vec![Candidate::new(CandidateKind::Host, caller_addr, u16::MAX)],
        profile: engine::dial::media_profile(),
    };
    let (waiting, offer) =
        ExpectAnswer::start(&alice, params, bot.public().clone(), [4; 32], [5; 32], now)
            .expect("offer");
    let verified = Offer::from_bytes(&offer.to_bytes())
        .expect("parses")
        .verify(alice.public(), "echo", now, &OfferPolicy::default())
        .expect("verifies");
    let (answer, callee) = verified
        .accept(
            &bot,
            vec![Candidate::new(CandidateKind::Host, callee_addr, u16::MAX)],
            [6; 32],
            now,
        )
        .expect("accept");
    let answer = Answer::from_bytes(&answer.to_bytes()).expect("parses");
    let caller = waiting
        .handle_answer(&answer, now, &OfferPolicy::default())
        .expect("answer verifies");
    (caller, callee)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_call_runs_its_media_without_the_registry() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_server, url) = registry(dir.path()).await;
    let mut alice = user(&url, dir.path(), "alice", 1).await;
    let (mine, bots) = (
        UdpSocket::bind("127.0.0.1:0").expect("bind"),
        UdpSocket::bind("127.0.0.1:0").expect("bind"),
    );
    let (caller, callee) = local_handshake(
        mine.local_addr().expect("addr"),
        bots.local_addr().expect("addr"),
    );
    let stop = CallHandle::default();
    let bot_stop = stop.clone();
    let bot = std::thread::spawn(move || {
        let opts = CallOptions {
            echo: true,
            dsp: DspConfig::off(),
            ..CallOptions::default()
        };
        let audio = NullAudio.open().expect("null audio");
        let bots = MediaTransport::from_socket(bots).expect("transport");
        Call::with_handle(callee, bots, audio, opts, bot_stop).and_then(|c| c.run(&mut |_| {}))
    });
    let echo = Username::parse("echo").expect("name");
    let started = alice
        .phone
        .start_local(
            echo,
            "echo-1".into(),
            caller,
            MediaTransport::from_socket(mine).expect("transport"),
        )
        .await
        .expect("starts");
    assert_eq!(started.state, CallState::Connecting);
    // The front end gets the running media's handle (the app's level
    // meters read it), before the call shows connecting.
    let media = loop {
        match tokio::time::timeout(Duration::from_secs(20), alice.events.recv()).await {
            Ok(Some(PhoneEvent::MediaStarted(call, handle))) if call == started.call => {
                break handle;
            }
            Ok(Some(PhoneEvent::Call(s))) if s.state != CallState::Connecting => {
                panic!("the media's handle came after {:?}", s.state)
            }
            Ok(Some(_)) => {}
            other => panic!("waiting for the media's handle: {other:?}"),
        }
    };
    let active = snapshot(&mut alice, "active", |s| s.state == CallState::Active).await;
    assert!(active.sas.is_some());
    alice
        .phone
        .set_muted(started.call, true)
        .await
        .expect("in a call");
    snapshot(&mut alice, "muted", |s| s.muted).await;
    assert!(media.is_muted(), "the handle is the running call's");
    alice.phone.hang_up(started.call).await.expect("in a call");
    let end = snapshot(&mut alice, "ended", |s| s.state == CallState::Ended).await;
    assert_eq!(end.end.map(|e| e.0), Some(EndReason::HungUp));
    assert!(media.is_hung_up());
    stop.hang_up();
    let _ = bot.join();
    let h = account::history(&alice.profile).expect("history");
    assert_eq!(h.last().map(|e| e.call_id.as_str()), Some("echo-1"));
}

const NO_RELAY: &str = "always relay is on, but the registry offers no relay";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_relay_without_a_relay_fails_at_once_on_either_side() {
    let dir = tempfile::tempdir().expect("tmp");
    // The test registry configures no TURN relay.
    let (_server, url) = registry(dir.path()).await;
    let relayed = Quiet { always_relay: true };
    let alice = user_with(&url, dir.path(), "alice", 1, relayed).await;
    let mut bob = user(&url, dir.path(), "bob", 2).await;
    let bob_name = Username::parse("bob").expect("name");

    // Calling: refused before anything rings, with the reason.
    match alice.phone.place(bob_name).await {
        Err(SetupError::Ended(end)) => {
            assert_eq!(
                end.end,
                Some((EndReason::Failed, Some(NO_RELAY.to_owned())))
            );
        }
        other => panic!("expected the call to fail before ringing: {other:?}"),
    }
    assert_eq!(
        outcome(&alice.profile, 0),
        (Direction::Outgoing, Outcome::Failed)
    );

    // Called: it rings (the user sees who called), and answering fails
    // with the reason; the caller hears it was declined.
    let relayed = Quiet { always_relay: true };
    let mut carol = user_with(&url, dir.path(), "carol", 3, relayed).await;
    let carol_name = Username::parse("carol").expect("name");
    bob.phone.place(carol_name).await.expect("rings");
    let inc = snapshot(&mut carol, "ringing", |s| s.state == CallState::RingingIn).await;
    match carol.phone.accept(inc.call).await {
        Err(SetupError::Ended(end)) => {
            assert_eq!(
                end.end,
                Some((EndReason::Failed, Some(NO_RELAY.to_owned())))
            );
        }
        other => panic!("expected answering to fail: {other:?}"),
    }
    let end = snapshot(&mut bob, "declined", |s| s.state == CallState::Ended).await;
    assert_eq!(end.end.map(|e| e.0), Some(EndReason::Rejected));
    assert_eq!(
        outcome(&carol.profile, 0),
        (Direction::Incoming, Outcome::Failed)
    );
}
