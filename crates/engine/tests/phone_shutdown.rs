//! `Phone::shutdown` against a real registry: when it returns, the call it
//! ended is over at the registry too, so a front end may exit at once
//! without leaving both users "in a call" for the disconnect grace.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use engine::audio::{AudioBackend, AudioIo, NullAudio};
use engine::call::CallOptions;
use engine::contacts::Trust;
use engine::dsp::DspConfig;
use engine::phone::{
    CallSnapshot, CallState, EndReason, NetSettings, Phone, PhoneEvent, PhoneHooks,
};
use engine::profile::Profile;
use engine::recent_offers::RecentOffers;
use engine::registry_client::{RegistryClient, RegistryEvent};
use proto::identity::IdentityKeyPair;
use proto::signaling::{self, Username};
use tokio::sync::mpsc::UnboundedReceiver;

/// Silent audio, media on loopback.
struct Quiet;

impl PhoneHooks for Quiet {
    fn trust_of(&self, _peer: &Username) -> Trust {
        Trust::Unverified
    }

    fn net_settings(&self) -> NetSettings {
        NetSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..NetSettings::default()
        }
    }

    fn open_media(&self, _call: &CallSnapshot) -> Result<(AudioIo, CallOptions), String> {
        let opts = CallOptions {
            dsp: DspConfig::off(),
            ..CallOptions::default()
        };
        Ok((NullAudio.open().map_err(|e| e.to_string())?, opts))
    }
}

struct User {
    phone: Phone,
    events: UnboundedReceiver<PhoneEvent>,
    /// A second client of the same account, to ask the registry.
    probe: RegistryClient,
}

fn client(url: &str, name: &str, seed: u8) -> RegistryClient {
    let identity = Arc::new(IdentityKeyPair::from_seed(&[seed; 32]));
    RegistryClient::new(url, Username::parse(name).expect("name"), identity).expect("client")
}

/// `name`'s phone, online; `fresh`: register the account first.
async fn user(url: &str, dir: &Path, name: &str, seed: u8, fresh: bool) -> User {
    let identity = Arc::new(IdentityKeyPair::from_seed(&[seed; 32]));
    let c = Arc::new(
        RegistryClient::new(url, Username::parse(name).expect("name"), identity.clone())
            .expect("client"),
    );
    if fresh {
        c.register().await.expect("registers");
    }
    let profile = Profile::open(dir.join(name)).expect("profile");
    let (phone, mut events) = Phone::start(
        c,
        identity,
        profile.clone(),
        RecentOffers::empty(&profile),
        Arc::new(Quiet),
        Vec::new(),
    );
    loop {
        match tokio::time::timeout(Duration::from_secs(15), events.recv()).await {
            Ok(Some(PhoneEvent::Registry(RegistryEvent::Connected))) => break,
            Ok(Some(_)) => {}
            other => panic!("{name} not online: {other:?}"),
        }
    }
    User {
        phone,
        events,
        probe: client(url, name, seed),
    }
}

async fn snapshot(u: &mut User, what: &str, pred: impl Fn(&CallSnapshot) -> bool) -> CallSnapshot {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), u.events.recv()).await {
            Ok(Some(PhoneEvent::Call(s))) if pred(&s) => return s,
            Ok(Some(_)) => {}
            other => panic!("waiting for {what}: {other:?}"),
        }
    }
}

async fn registry(dir: &Path) -> (registry::Server, String) {
    // The default disconnect grace (30 s): only a delivered step ends the
    // call within this test.
    let mut c = registry::Config::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        dir.join("registry.sqlite3"),
    );
    c.rate_per_ip = 0;
    c.rate_per_account = 0;
    let server = registry::Server::start(c).await.expect("registry starts");
    let url = format!("http://{}", server.addr);
    (server, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_once_the_registry_has_the_call_ended() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_server, url) = registry(dir.path()).await;
    let alice = user(&url, dir.path(), "alice", 1, true).await;
    let mut bob = user(&url, dir.path(), "bob", 2, true).await;
    let bob_name = Username::parse("bob").expect("name");

    // Quitting while it rings out: cancelled at the registry by the time
    // shutdown returns, and bob stops ringing (a missed call, to him).
    let ringing = alice.phone.place(bob_name.clone()).await.expect("rings");
    let id = ringing.id.clone().expect("the registry named the call");
    snapshot(&mut bob, "ringing", |s| s.state == CallState::RingingIn).await;
    alice.phone.shutdown().await;
    let status = alice.probe.status(&id).await.expect("status");
    assert_eq!(status.state, signaling::CallState::Cancelled);
    let b = snapshot(&mut bob, "ended", |s| s.state == CallState::Ended).await;
    assert_eq!(b.end.map(|e| e.0), Some(EndReason::Missed));
    // The stopped phone takes no more commands.
    assert!(alice.phone.place(bob_name.clone()).await.is_err());

    // Quitting in a call: the media stops, the hang-up is answered, and
    // only then does shutdown return.
    let mut alice = user(&url, dir.path(), "alice", 1, false).await;
    let ringing = alice.phone.place(bob_name).await.expect("rings");
    let id = ringing.id.clone().expect("the registry named the call");
    let inc = snapshot(&mut bob, "ringing", |s| s.state == CallState::RingingIn).await;
    bob.phone.accept(inc.call).await.expect("answers");
    snapshot(&mut alice, "active", |s| s.state == CallState::Active).await;
    alice.phone.shutdown().await;
    let status = alice.probe.status(&id).await.expect("status");
    assert_eq!(status.state, signaling::CallState::Ended);
    let a = snapshot(&mut alice, "ended", |s| s.state == CallState::Ended).await;
    assert_eq!(a.end.map(|e| e.0), Some(EndReason::HungUp));
    bob.phone.shutdown().await;
}
