//! A registry hosted with a self-signed certificate, joined by pinning the
//! certificate's SHA-256 fingerprint: the registry runs in-process behind
//! TLS with a certificate made here by rcgen that names neither the address
//! dialled nor any CA.
//!
//! With the right pin the whole account flow and the push socket work; with
//! a wrong pin the connection is closed in the TLS handshake, so no request
//! (and no token) ever reaches the registry; without a pin WebPKI refuses the
//! self-signed certificate as before, and the error says which one it was.

use std::sync::Arc;
use std::time::Duration;

use engine::registry_client::{RegistryClient, RegistryError, RegistryEvent};
use engine::registry_tls::{CertFingerprint, ConnectOptions};
use proto::identity::IdentityKeyPair;
use proto::signaling::{ErrorCode, Username};

fn client(url: &str, name: &str, seed: u8, pinned: Option<CertFingerprint>) -> RegistryClient {
    RegistryClient::with_options(
        url,
        Username::parse(name).expect("name"),
        Arc::new(IdentityKeyPair::from_seed(&[seed; 32])),
        &ConnectOptions {
            pinned,
            ..ConnectOptions::default()
        },
    )
    .expect("client")
}

#[tokio::test]
async fn only_the_pinned_certificate_is_accepted() {
    let dir = tempfile::tempdir().expect("tmp");
    // A self-signed certificate like the app makes when it hosts: its name
    // is not the address the clients dial.
    let made = rcgen::generate_simple_self_signed(vec!["pqvoice-hosted-registry".to_owned()])
        .expect("self-signed certificate");
    let pin = CertFingerprint::of_der(made.cert.der());
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, made.cert.pem()).expect("write cert");
    std::fs::write(&key_path, made.signing_key.serialize_pem()).expect("write key");
    let mut config = registry::Config::new(
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().join("r.sqlite3"),
    );
    config.tls = Some((cert_path, key_path));
    let server = registry::Server::start(config).await.expect("start");
    let url = format!("https://127.0.0.1:{}", server.addr.port());

    // The right pin: register, sign in and the wss push channel.
    let alice = Arc::new(client(&url, "alice", 1, Some(pin)));
    alice
        .register()
        .await
        .expect("register with the pinned certificate");
    alice
        .sign_in()
        .await
        .expect("sign in with the pinned certificate");
    let mut events = alice.events(Vec::new());
    let first = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s");
    assert_eq!(first, Some(RegistryEvent::Connected), "wss with the pin");

    // A wrong pin (another certificate's): refused in the handshake with
    // both fingerprints named, for register and for sign-in alike.
    let other = rcgen::generate_simple_self_signed(vec!["elsewhere".to_owned()]).expect("cert");
    let wrong = CertFingerprint::of_der(other.cert.der());
    let mallory = client(&url, "mallory", 2, Some(wrong));
    for attempt in [
        mallory.register().await.map(|_| ()),
        mallory.sign_in().await,
    ] {
        match attempt {
            Err(RegistryError::CertificateMismatch { expected, got }) => {
                assert_eq!(expected, wrong);
                assert_eq!(
                    got, pin,
                    "the error names the certificate the server showed"
                );
            }
            other => panic!("a wrong pin must refuse the certificate: {other:?}"),
        }
    }
    // Alice's own key behind a wrong pin: no sign-in either, and the push
    // channel reports the mismatch rather than connecting.
    let alice_wrong = Arc::new(client(&url, "alice", 1, Some(wrong)));
    assert!(matches!(
        alice_wrong.sign_in().await,
        Err(RegistryError::CertificateMismatch { .. })
    ));
    let mut refused = alice_wrong.events(Vec::new());
    match tokio::time::timeout(Duration::from_secs(10), refused.next()).await {
        Ok(Some(RegistryEvent::Disconnected { reason, .. })) => {
            assert!(reason.contains("pinned fingerprint"), "reason: {reason}");
        }
        other => panic!("the push channel must not connect with a wrong pin: {other:?}"),
    }
    drop(refused);
    // Nothing mallory sent arrived: the name is still free.
    match alice
        .fetch(&Username::parse("mallory").expect("name"))
        .await
    {
        Err(e) => assert_eq!(e.code(), Some(ErrorCode::UnknownUser), "{e}"),
        Ok(info) => panic!("mallory's registration went through a wrong pin: {info:?}"),
    }

    // No pin and no root: WebPKI refuses a self-signed certificate, and
    // the error names its fingerprint (to compare with the host's).
    let eve = client(&url, "eve", 3, None);
    match eve.register().await {
        Err(RegistryError::UntrustedCertificate { got }) => assert_eq!(got, pin),
        other => panic!("a self-signed certificate without a pin must fail: {other:?}"),
    }

    drop(events);
    server.shutdown().await.expect("shutdown");
}

#[test]
fn a_pin_needs_https() {
    let pin = CertFingerprint::of_der(b"any");
    let r = RegistryClient::with_options(
        "http://127.0.0.1:5001",
        Username::parse("alice").expect("name"),
        Arc::new(IdentityKeyPair::from_seed(&[1; 32])),
        &ConnectOptions {
            pinned: Some(pin),
            ..ConnectOptions::default()
        },
    );
    assert!(matches!(r, Err(RegistryError::Config(_))), "{r:?}");
}
