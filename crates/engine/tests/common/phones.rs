//! Phones against a real registry on loopback, for the tests of
//! `engine::phone`: the registry, a user's phone brought online with silent
//! audio, and a wait for the call snapshot a test expects. Included with
//! `#[path]` by those tests, so the registry tests that share
//! `common/mod.rs` do not carry it.

// Each test file uses a different part.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use engine::audio::{AudioBackend, AudioIo, NullAudio};
use engine::call::CallOptions;
use engine::contacts::Trust;
use engine::dsp::DspConfig;
use engine::phone::{CallSnapshot, NetSettings, Phone, PhoneEvent, PhoneHooks};
use engine::profile::Profile;
use engine::recent_offers::RecentOffers;
use engine::registry_client::{RegistryClient, RegistryEvent};
use proto::identity::IdentityKeyPair;
use proto::signaling::Username;
use tokio::sync::mpsc::UnboundedReceiver;

/// Silent audio, media on loopback; `always_relay` as the user set it.
#[derive(Default)]
pub struct Quiet {
    pub always_relay: bool,
}

impl PhoneHooks for Quiet {
    fn trust_of(&self, _peer: &Username) -> Trust {
        Trust::Unverified
    }

    fn net_settings(&self) -> NetSettings {
        // Loopback only: the registry's STUN is asked, nothing leaves the host.
        NetSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            always_relay: self.always_relay,
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

/// A registry on loopback with its database in `dir`, no rate limits and
/// the default disconnect grace (30 s): the server and its URL.
pub async fn registry(dir: &Path) -> (registry::Server, String) {
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

/// A user's running phone.
pub struct User {
    pub phone: Phone,
    pub events: UnboundedReceiver<PhoneEvent>,
    pub profile: Profile,
}

/// A client of `name`'s account (identity from `seed`) at `url`.
pub fn client(url: &str, name: &str, seed: u8) -> RegistryClient {
    let identity = Arc::new(IdentityKeyPair::from_seed(&[seed; 32]));
    RegistryClient::new(url, Username::parse(name).expect("name"), identity).expect("client")
}

/// `name`'s phone, online, with its profile under `dir`; `register`: create
/// the account first (a phone started again for the same user does not).
pub async fn user(
    url: &str,
    dir: &Path,
    name: &str,
    seed: u8,
    hooks: Quiet,
    register: bool,
) -> User {
    let identity = Arc::new(IdentityKeyPair::from_seed(&[seed; 32]));
    let client = Arc::new(
        RegistryClient::new(url, Username::parse(name).expect("name"), identity.clone())
            .expect("client"),
    );
    if register {
        client.register().await.expect("registers");
    }
    let profile = Profile::open(dir.join(name)).expect("profile");
    let (phone, mut events) = Phone::start(
        client,
        identity,
        profile.clone(),
        RecentOffers::empty(&profile),
        Arc::new(hooks),
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
        profile,
    }
}

/// The next call snapshot that `pred` accepts.
pub async fn snapshot(
    u: &mut User,
    what: &str,
    pred: impl Fn(&CallSnapshot) -> bool,
) -> CallSnapshot {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), u.events.recv()).await {
            Ok(Some(PhoneEvent::Call(s))) if pred(&s) => return s,
            Ok(Some(_)) => {}
            other => panic!("waiting for {what}: {other:?}"),
        }
    }
}
