//! The relay attack on sign-in, over real sockets: a "registry" that only
//! forwards every byte to an honest one cannot get the user a token there,
//! because the engine's client signs the origin of the URL it was given
//! (the relay's), and the honest registry answers `wrong_origin`. The same
//! client pointed at the honest registry signs in.

use std::sync::Arc;

use engine::registry_client::RegistryClient;
use proto::identity::IdentityKeyPair;
use proto::signaling::ErrorCode;
use testkit::name;
use tokio::net::{TcpListener, TcpStream};

/// Forwards every connection made to the returned port to `to`, byte for
/// byte, as a relaying registry would.
async fn relay(to: std::net::SocketAddr) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
    let addr = listener.local_addr().expect("relay addr");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_relaying_registry_cannot_sign_the_user_in_at_the_honest_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = registry::Config::new(
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().join("honest.sqlite3"),
    );
    config.rate_per_ip = 0;
    let honest = registry::Server::start(config).await.expect("start");
    let relay = relay(honest.addr).await;
    let key = Arc::new(IdentityKeyPair::from_seed(&[1; 32]));

    let direct = RegistryClient::new(
        &format!("http://{}", honest.addr),
        name("alice"),
        Arc::clone(&key),
    )
    .expect("client");
    direct.register().await.expect("register");

    let relayed =
        RegistryClient::new(&format!("http://{relay}"), name("alice"), key).expect("client");
    // Everything reaches the honest registry: the challenge is issued...
    let err = relayed.sign_in().await.expect_err("relayed sign-in");
    // ... but the signature names the relay, so no token comes back.
    assert_eq!(err.code(), Some(ErrorCode::WrongOrigin), "{err}");
    assert!(relayed.fetch(&name("alice")).await.is_err());

    direct.sign_in().await.expect("direct sign-in");
    let me = direct.fetch(&name("alice")).await.expect("fetch");
    assert_eq!(me.username, name("alice"));
}
