//! The registry answers STUN Binding requests on UDP, over real loopback
//! sockets: the XOR-MAPPED-ADDRESS is the sender's address (IPv4, IPv6,
//! and IPv4 through a dual-stack listener); junk gets no answer and does
//! not stop the listener; one source cannot draw unlimited answers.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use registry::config::StunListen;
use registry::stun::{BURST_PER_IP, MAX_RESPONSE_GROWTH};
use stun_types::attribute::XorMappedAddress;
use stun_types::message::{
    BINDING, Message, MessageClass, MessageWrite, MessageWriteExt, MessageWriteVec, TransactionId,
};
use tokio::net::UdpSocket;

fn binding_request() -> (Vec<u8>, TransactionId) {
    let mut m = Message::builder_request(BINDING, MessageWriteVec::new());
    m.add_fingerprint().expect("fingerprint fits");
    let bytes = m.finish();
    let id = Message::from_bytes(&bytes)
        .expect("own request parses")
        .transaction_id();
    (bytes, id)
}

/// The next datagram on `socket` within `ms`, if any.
async fn reply(socket: &UdpSocket, ms: u64) -> Option<Vec<u8>> {
    let mut buf = [0u8; 1500];
    match tokio::time::timeout(Duration::from_millis(ms), socket.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(buf[..n].to_vec()),
        Ok(Err(e)) => panic!("receive failed: {e}"),
        Err(_) => None,
    }
}

/// Sends a Binding request from `socket` to `stun` and returns the mapped
/// address of the answer, checking the answer on the way.
async fn mapped_address(socket: &UdpSocket, stun: SocketAddr) -> SocketAddr {
    let (req, id) = binding_request();
    socket.send_to(&req, stun).await.expect("send");
    let answer = reply(socket, 2000).await.expect("an answer within 2 s");
    assert!(
        answer.len() <= req.len() + MAX_RESPONSE_GROWTH,
        "{} bytes answer a {}-byte request",
        answer.len(),
        req.len()
    );
    let msg = Message::from_bytes(&answer).expect("the answer is STUN");
    assert!(msg.has_class(MessageClass::Success) && msg.has_method(BINDING));
    assert_eq!(msg.transaction_id(), id);
    msg.attribute::<XorMappedAddress>()
        .expect("XOR-MAPPED-ADDRESS")
        .addr(id)
}

#[tokio::test]
async fn the_answer_names_the_senders_address_on_ipv4_and_ipv6() {
    let dir = tempfile::tempdir().expect("tempdir");
    // By default STUN shares the HTTP listener's address and port.
    let server = start(config(&dir.path().join("v4.sqlite3"))).await;
    assert_eq!(server.stun_addr, Some(server.addr));
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind v4");
    let stun = server.stun_addr.expect("STUN on");
    assert_eq!(
        mapped_address(&client, stun).await,
        client.local_addr().expect("addr")
    );

    let mut c = config(&dir.path().join("v6.sqlite3"));
    c.listen = "[::1]:0".parse().expect("address");
    let v6 = start(c).await;
    let client6 = UdpSocket::bind("[::1]:0").await.expect("bind v6");
    assert_eq!(
        mapped_address(&client6, v6.stun_addr.expect("STUN on")).await,
        client6.local_addr().expect("addr")
    );

    // A listener on [::] hears IPv4 clients as ::ffff:a.b.c.d; they must
    // still learn their IPv4 address.
    let mut c = config(&dir.path().join("dual.sqlite3"));
    c.stun_listen = StunListen::At("[::]:0".parse().expect("address"));
    let dual = start(c).await;
    let port = dual.stun_addr.expect("STUN on").port();
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(
        mapped_address(&client, to).await,
        client.local_addr().expect("addr")
    );
    for s in [server, v6, dual] {
        s.shutdown().await.expect("clean shutdown");
    }
}

#[tokio::test]
async fn junk_gets_no_answer_and_the_listener_keeps_answering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(config(&dir.path().join("reg.sqlite3"))).await;
    let stun = server.stun_addr.expect("STUN on");
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let (good, _) = binding_request();

    let mut junk: Vec<Vec<u8>> = vec![
        vec![0],
        good[..19].to_vec(),
        good[..good.len() - 4].to_vec(),
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        vec![0xab; 1200],
        vec![0; 20],
    ];
    // A Binding indication, a Binding success response, an Allocate request.
    for ty in [[0x00, 0x11], [0x01, 0x01], [0x00, 0x03]] {
        let mut m = good.clone();
        m[..2].copy_from_slice(&ty);
        junk.push(m);
    }
    // A corrupted FINGERPRINT.
    let mut m = good.clone();
    let last = m.len() - 1;
    m[last] ^= 0xff;
    junk.push(m);
    for datagram in &junk {
        client.send_to(datagram, stun).await.expect("send");
    }
    assert_eq!(reply(&client, 400).await, None, "junk was answered");
    // Still there, for this client and for a new one.
    assert_eq!(
        mapped_address(&client, stun).await,
        client.local_addr().expect("addr")
    );
    let other = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    assert_eq!(
        mapped_address(&other, stun).await,
        other.local_addr().expect("addr")
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn one_source_cannot_draw_unlimited_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(config(&dir.path().join("reg.sqlite3"))).await;
    let stun = server.stun_addr.expect("STUN on");
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let sent = 3 * BURST_PER_IP;
    for _ in 0..sent {
        let (req, _) = binding_request();
        client.send_to(&req, stun).await.expect("send");
    }
    let mut answers = 0;
    while reply(&client, 300).await.is_some() {
        answers += 1;
    }
    // The burst, plus what the rate refilled while the requests arrived.
    assert!(answers >= 1, "nothing answered");
    assert!(
        answers < sent && answers <= BURST_PER_IP + 5,
        "{answers} answers to {sent} requests"
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn stun_can_be_turned_off_and_healthz_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(&dir.path().join("reg.sqlite3"));
    c.stun_listen = StunListen::Off;
    let server = start(c).await;
    assert_eq!(server.stun_addr, None);
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let (req, _) = binding_request();
    client.send_to(&req, server.addr).await.expect("send");
    assert_eq!(reply(&client, 300).await, None);
    let health: serde_json::Value = http_client()
        .get(format!("http://{}/healthz", server.addr))
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(health["stun"], false);
    assert_eq!(health["turn"], false);
    server.shutdown().await.expect("clean shutdown");
}
