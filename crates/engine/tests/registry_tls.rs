//! The registry behind TLS (`--tls-cert/--tls-key`) with the engine's
//! client: a certificate from a test CA made here, trusted by the client
//! through `with_root_certificate`; register, sign in and the WebSocket push
//! channel all run over TLS. A client that does not trust the CA, and a
//! plain-HTTP client, get nowhere.

use std::sync::Arc;
use std::time::Duration;

use engine::registry_client::{RegistryClient, RegistryError, RegistryEvent};
use proto::identity::IdentityKeyPair;
use proto::signaling::Username;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// A CA and a server certificate for `localhost` and 127.0.0.1 signed by
/// it; returns (CA PEM, server chain PEM, server key PEM).
fn test_pki() -> (String, String, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("ca key");
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("ca cert");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("leaf params")
        .signed_by(&leaf_key, &ca)
        .expect("leaf cert");
    (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
}

fn client(url: &str, name: &str, seed: u8, root: Option<&[u8]>) -> Arc<RegistryClient> {
    Arc::new(
        RegistryClient::with_root_certificate(
            url,
            Username::parse(name).expect("name"),
            Arc::new(IdentityKeyPair::from_seed(&[seed; 32])),
            root,
        )
        .expect("client"),
    )
}

#[tokio::test]
async fn the_registry_serves_https_and_wss_to_a_client_that_trusts_its_ca() {
    let dir = tempfile::tempdir().expect("tmp");
    let (ca, chain, key) = test_pki();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, chain).expect("write cert");
    std::fs::write(&key_path, key).expect("write key");
    let mut config = registry::Config::new(
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().join("r.sqlite3"),
    );
    config.tls = Some((cert_path, key_path));
    let server = registry::Server::start(config).await.expect("start");
    let url = format!("https://localhost:{}", server.addr.port());

    // Trusting the CA: the whole account flow and the push channel work.
    let alice = client(&url, "alice", 1, Some(ca.as_bytes()));
    alice.register().await.expect("register over TLS");
    alice.sign_in().await.expect("sign in over TLS");
    let mut events = alice.events(Vec::new());
    let first = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s");
    assert_eq!(first, Some(RegistryEvent::Connected), "wss push channel");

    // Not trusting it: refused before any request is made.
    let mallory = client(&url, "mallory", 2, None);
    match mallory.register().await {
        Err(RegistryError::UntrustedCertificate { .. }) => {}
        other => panic!("an untrusted certificate must fail the connection: {other:?}"),
    }

    // Plain HTTP to the TLS port gets no answer that parses as one.
    let plain = client(
        &format!("http://127.0.0.1:{}", server.addr.port()),
        "eve",
        3,
        None,
    );
    assert!(plain.register().await.is_err());

    drop(events);
    server.shutdown().await.expect("shutdown");
}
