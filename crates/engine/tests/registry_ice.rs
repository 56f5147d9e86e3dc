//! `RegistryClient::ice_servers` against a real registry, and the
//! credentials it hands out against a real coturn: the STUN address is the
//! registry's and answers a Binding request; a TURN Allocate over UDP with
//! the registry's credentials succeeds on a coturn sharing the secret, and
//! is refused (401) by one with another secret.

#[allow(dead_code)] // `until` serves the push-socket tests, not these.
mod common;
#[path = "common/coturn.rs"]
mod coturn;

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use common::name;
use coturn::Coturn;
use engine::net::{IceServers, TurnServer, TurnTransport};
use engine::registry_client::RegistryClient;
use proto::identity::IdentityKeyPair;
use proto::signaling::TurnUri;
use turn_client_proto::api::{TurnClientApi, TurnConfig, TurnEvent, TurnPollRet};
use turn_client_proto::stun::Instant as SansIoInstant;
use turn_client_proto::stun::agent::Transmit;
use turn_client_proto::stun::types::TransportType;
use turn_client_proto::stun::types::attribute::{
    AttributeStaticType as _, ErrorCode, Username as UsernameAttr, XorMappedAddress,
};
use turn_client_proto::stun::types::message::{
    BINDING, Message, MessageClass, MessageWrite as _, MessageWriteVec, TransactionId,
};
use turn_client_proto::types::TurnCredentials;
use turn_client_proto::udp::TurnClientUdp;

const SECRET: &str = "c0ffee5ecret0f7h3t3s7r3lay";

/// A registry with TURN credentials for `turn_uris` under `secret`, and
/// alice signed up on it.
async fn registry_with_turn(
    dir: &tempfile::TempDir,
    turn_uris: &[String],
    secret: &str,
) -> (registry::Server, RegistryClient) {
    use std::os::unix::fs::PermissionsExt;
    let mut c = testkit::registry_config(dir.path());
    if !turn_uris.is_empty() {
        let path = dir.path().join("turn-secret");
        std::fs::write(&path, format!("{secret}\n")).expect("write secret");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        c.turn_uris = turn_uris
            .iter()
            .map(|u| TurnUri::parse(u).expect("valid URI"))
            .collect();
        c.turn_secret_file = Some(path);
    }
    let server = registry::Server::start(c).await.expect("registry starts");
    let client = RegistryClient::new(
        &format!("http://{}", server.addr),
        name("alice"),
        Arc::new(IdentityKeyPair::from_seed(&[7; 32])),
    )
    .expect("client");
    client.register().await.expect("register");
    (server, client)
}

#[tokio::test]
async fn ice_servers_name_the_registrys_stun_and_the_configured_relays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let uris = [
        "turn:127.0.0.1:3478?transport=udp".to_owned(),
        "turn:[::1]:3479?transport=tcp".to_owned(),
        // Not usable by this client yet: left out, the rest still comes.
        "turns:127.0.0.1:5349".to_owned(),
    ];
    let (server, client) = registry_with_turn(&dir, &uris, SECRET).await;
    let before = registry::unix_now();
    let servers = client.ice_servers().await.expect("ice servers");
    let stun = server.stun_addr.expect("the registry runs STUN");
    assert_eq!(servers.stun, [stun]);
    let turn: Vec<(SocketAddr, TurnTransport)> =
        servers.turn.iter().map(|t| (t.addr, t.transport)).collect();
    assert_eq!(
        turn,
        [
            ("127.0.0.1:3478".parse().expect("addr"), TurnTransport::Udp),
            ("[::1]:3479".parse().expect("addr"), TurnTransport::Tcp),
        ]
    );
    for t in &servers.turn {
        let (expiry, user) = t.username.split_once(':').expect("expiry:name");
        assert_eq!(user, "alice");
        let expiry: u64 = expiry.parse().expect("numeric expiry");
        assert!(
            (before + 3600..=before + 3605).contains(&expiry),
            "{expiry}"
        );
        assert!(!t.password.is_empty());
        assert!(!format!("{t:?}").contains(t.password.as_str()));
    }

    // The STUN address answers from a socket of ours with our address.
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let request = Message::builder_request(BINDING, MessageWriteVec::new()).finish();
    let mapped = tokio::task::spawn_blocking(move || {
        socket.send_to(&request, stun).expect("send");
        let mut buf = [0u8; 512];
        let (n, _) = socket.recv_from(&mut buf).expect("STUN answer within 2 s");
        let msg = Message::from_bytes(&buf[..n]).expect("STUN");
        let xor = msg
            .attribute::<XorMappedAddress>()
            .expect("XOR-MAPPED-ADDRESS");
        (
            xor.addr(msg.transaction_id()),
            socket.local_addr().expect("addr"),
        )
    })
    .await
    .expect("STUN exchange");
    assert_eq!(mapped.0, mapped.1);

    // Without relays: STUN only.
    let dir2 = tempfile::tempdir().expect("tempdir");
    let (plain, plain_client) = registry_with_turn(&dir2, &[], SECRET).await;
    let servers = plain_client.ice_servers().await.expect("ice servers");
    assert_eq!(servers.stun, [plain.stun_addr.expect("STUN")]);
    assert!(servers.turn.is_empty());
    server.shutdown().await.expect("shutdown");
    plain.shutdown().await.expect("shutdown");
}

/// How an Allocate ended.
#[derive(Debug)]
enum Allocation {
    /// The relay gave us this address.
    Created(SocketAddr),
    /// It failed; `refused` says whether the relay answered a request that
    /// carried our credentials with 401 Unauthorized.
    Failed { refused: bool },
}

/// Runs a TURN Allocate over UDP against `server` to the end, on a real
/// socket, driving the sans-IO client with real time.
fn allocate(server: &TurnServer) -> Allocation {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let local = socket.local_addr().expect("addr");
    let credentials = TurnCredentials::new(&server.username, &server.password);
    let mut client = TurnClientUdp::allocate(local, server.addr, TurnConfig::new(credentials));
    let start = std::time::Instant::now();
    let now =
        || SansIoInstant::from_nanos(i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX));
    let mut with_credentials: HashSet<TransactionId> = HashSet::new();
    let mut buf = [0u8; 2048];
    while start.elapsed() < Duration::from_secs(10) {
        let t = now();
        while let Some(out) = client.poll_transmit(t) {
            let data = out.data.as_ref();
            if let Ok(msg) = Message::from_bytes(data)
                && msg.has_attribute(UsernameAttr::TYPE)
            {
                with_credentials.insert(msg.transaction_id());
            }
            socket.send_to(data, out.to).expect("send to the relay");
        }
        while let Some(event) = client.poll_event() {
            match event {
                TurnEvent::AllocationCreated(_, relayed) => return Allocation::Created(relayed),
                TurnEvent::AllocationCreateFailed(_) => {
                    return Allocation::Failed { refused: false };
                }
                _ => {}
            }
        }
        if let TurnPollRet::Closed = client.poll(t) {
            return Allocation::Failed { refused: false };
        }
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let data = &buf[..n];
            if let Ok(msg) = Message::from_bytes(data)
                && msg.has_class(MessageClass::Error)
                && with_credentials.contains(&msg.transaction_id())
                && msg
                    .attribute::<ErrorCode>()
                    .is_ok_and(|e| e.code() == ErrorCode::UNAUTHORIZED)
            {
                // The relay computed another password for our username:
                // the answer is final, whatever the client does next.
                return Allocation::Failed { refused: true };
            }
            let _ = client.recv(Transmit::new(data, TransportType::Udp, from, local), now());
        }
    }
    Allocation::Failed { refused: false }
}

/// The first UDP relay of `servers`.
fn udp_relay(servers: &IceServers) -> TurnServer {
    servers
        .turn
        .iter()
        .find(|t| t.transport == TurnTransport::Udp)
        .cloned()
        .expect("a UDP relay")
}

/// Allocates on `relay` the way a caller would: a registry holding
/// [`SECRET`] names it as its UDP relay, and the allocation uses the
/// credentials that registry hands out. The address the registry named and
/// how the allocation went.
async fn allocate_with_registry_credentials(relay: &Coturn) -> (SocketAddr, Allocation) {
    let uri = format!("turn:{}?transport=udp", relay.addr);
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, client) = registry_with_turn(&dir, &[uri], SECRET).await;
    let servers = client.ice_servers().await.expect("ice servers");
    let turn = udp_relay(&servers);
    let named = turn.addr;
    let result = tokio::task::spawn_blocking(move || allocate(&turn))
        .await
        .expect("allocate");
    server.shutdown().await.expect("shutdown");
    (named, result)
}

#[tokio::test]
async fn registry_credentials_allocate_on_a_real_coturn() {
    let Some(relay) = Coturn::start(SECRET) else {
        return;
    };
    let (named, result) = allocate_with_registry_credentials(&relay).await;
    assert_eq!(named, relay.addr);
    match result {
        Allocation::Created(relayed) => assert_eq!(relayed.ip(), relay.addr.ip()),
        other => panic!("allocation failed: {other:?}\ncoturn log:\n{}", relay.log()),
    }
}

#[tokio::test]
async fn a_relay_with_another_secret_refuses_the_credentials() {
    let Some(relay) = Coturn::start("a-different-secret-entirely") else {
        return;
    };
    let (_, result) = allocate_with_registry_credentials(&relay).await;
    assert!(
        matches!(result, Allocation::Failed { refused: true }),
        "{result:?}\ncoturn log:\n{}",
        relay.log()
    );
}
