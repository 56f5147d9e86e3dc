//! The shared socket's demultiplexing (RFC 7983): datagrams that look like
//! STUN or ChannelData are accepted only from our TURN server; from anyone
//! else they are dropped and counted, and our own packets pass as Direct.

mod net_support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use engine::net::{MediaTransport, Route};

#[test]
fn stun_and_channel_data_from_strangers_are_dropped() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut transport = MediaTransport::from_socket(socket).unwrap();
    let poll_timeout = transport.poll_timeout();
    assert_eq!(poll_timeout, None, "a direct transport has no timers");
    let mut poll = mio::Poll::new().unwrap();
    transport.register(poll.registry(), mio::Token(7)).unwrap();

    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = transport.local_addr();
    let stun_like = [
        0x01u8, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let channel_like = [0x40u8, 0x00, 0x00, 0x04, 1, 2, 3, 4];
    let ours = net_support::packet(9);
    stranger.send_to(&stun_like, to).unwrap();
    stranger.send_to(&channel_like, to).unwrap();
    stranger.send_to(&[0x03], to).unwrap();
    stranger.send_to(&[0x4f, 0xff], to).unwrap();
    stranger.send_to(&ours, to).unwrap();

    let mut events = mio::Events::with_capacity(4);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.is_empty() && Instant::now() < deadline {
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 1500];
        while let Some((route, n)) = transport.recv(&mut buf, Instant::now()).unwrap() {
            got.push((route, buf[..n].to_vec()));
        }
    }
    let from = stranger.local_addr().unwrap();
    assert_eq!(got, vec![(Route::Direct(from), ours)]);
    assert_eq!(transport.counters().foreign_dropped, 4);
    assert_eq!(transport.counters().direct_received, 1);
}

#[test]
fn a_dual_stack_socket_reports_ipv4_peers_as_plain_ipv4() {
    let gathered = engine::net::gather(&Default::default(), &Default::default()).unwrap();
    let mut transport = gathered.transport;
    let port = transport.local_addr().port();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.send_to(&net_support::packet(1), ("127.0.0.1", port))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let got = loop {
        assert!(Instant::now() < deadline, "nothing arrived");
        if let Some(got) = net_support::drain(&mut transport).pop() {
            break got;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let from = peer.local_addr().unwrap();
    assert_eq!(got.0, Route::Direct(from));
    assert!(from.is_ipv4());
    // And sending to a plain IPv4 address works from the same socket.
    transport
        .send(Route::Direct(from), &net_support::packet(2), Instant::now())
        .unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1500];
    let (n, src) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(n, net_support::PACKET_LEN);
    assert_eq!(src.port(), port);
}

#[test]
fn relay_only_sends_and_accepts_nothing_direct() {
    // A relay-only transport without a relay cannot be gathered; one with a
    // relay is in net_relay. Here: a direct send on a relay-only transport
    // is refused, which needs coturn for the allocation.
    let coturn = net_support::Coturn::start();
    let servers = engine::net::IceServers {
        stun: vec![],
        turn: vec![coturn.turn(engine::net::TurnTransport::Udp)],
    };
    let opts = engine::net::GatherOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        relay_only: true,
        ..Default::default()
    };
    let mut transport = engine::net::gather(&servers, &opts).unwrap().transport;
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let peer_addr = peer.local_addr().unwrap();
    transport
        .send(
            Route::Direct(peer_addr),
            &net_support::packet(1),
            Instant::now(),
        )
        .unwrap();
    let mut buf = [0u8; 1500];
    assert!(peer.recv_from(&mut buf).is_err(), "a direct datagram left");
    assert_eq!(transport.counters().direct_refused, 1);
    assert_eq!(transport.counters().direct_sent, 0);
    // And what the peer sends straight to the socket is not taken.
    peer.send_to(&net_support::packet(2), transport.local_addr())
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(net_support::drain(&mut transport).is_empty());
    assert_eq!(transport.counters().direct_refused, 2);
}
