//! Plain `http://` carries the sign-in token readable by anyone on the
//! way, so the client refuses it beyond loopback unless the caller passes
//! the user's consent; loopback stays allowed for local scripts and tests.
//! The refusal comes from the constructor, before any connection exists.

use std::sync::Arc;

use engine::registry_client::{RegistryClient, RegistryError};
use engine::registry_tls::{ConnectOptions, Reach};
use proto::identity::IdentityKeyPair;
use proto::signaling::Username;

fn client(url: &str, allow_insecure_http: bool) -> Result<RegistryClient, RegistryError> {
    RegistryClient::with_options(
        url,
        Username::parse("alice").expect("name"),
        Arc::new(IdentityKeyPair::from_seed(&[1; 32])),
        &ConnectOptions {
            allow_insecure_http,
            ..ConnectOptions::default()
        },
    )
}

#[test]
fn http_beyond_loopback_needs_consent() {
    for (url, reach) in [
        ("http://192.168.1.20:5001", Reach::PrivateNetwork),
        ("http://[fd00::1]:5001", Reach::PrivateNetwork),
        ("http://203.0.113.7:5001", Reach::Public),
        ("http://registry.example.org", Reach::Public),
    ] {
        match client(url, false) {
            Err(RegistryError::InsecureHttp(r)) => assert_eq!(r, reach, "{url}"),
            other => panic!("{url} must be refused without consent: {other:?}"),
        }
        assert!(client(url, true).is_ok(), "{url} with consent");
        // `new` is the no-consent default.
        let plain = RegistryClient::new(
            url,
            Username::parse("alice").expect("name"),
            Arc::new(IdentityKeyPair::from_seed(&[1; 32])),
        );
        assert!(
            matches!(plain, Err(RegistryError::InsecureHttp(_))),
            "{url}"
        );
    }
    for url in [
        "http://127.0.0.1:5001",
        "http://localhost:5001",
        "http://[::1]:5001",
    ] {
        assert!(client(url, false).is_ok(), "{url} is loopback");
    }
    for url in ["https://192.168.1.20:5001", "https://registry.example.org"] {
        assert!(client(url, false).is_ok(), "{url} is TLS");
    }
}
