//! An IPv6 relay: coturn on `[::1]` gives an IPv6 relayed address, and
//! packets flow through it both ways to an IPv6 peer.

mod net_support;

use std::net::{Ipv6Addr, UdpSocket};

use engine::net::{self, GatherOptions, IceServers, MediaTransport, Route, TurnTransport};
use net_support::{Coturn, PACKET_LEN, deliver};
use proto::handshake::{Candidate, CandidateKind};

#[test]
fn an_ipv6_relay_carries_packets_both_ways() {
    let Ok(b_sock) = UdpSocket::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here; nothing to test");
        return;
    };
    let coturn = Coturn::start_on(Ipv6Addr::LOCALHOST.into(), &[]);
    let servers = IceServers {
        stun: vec![],
        turn: vec![coturn.turn(TurnTransport::Udp)],
    };
    let a = net::gather(
        &servers,
        &GatherOptions {
            relay_only: true,
            ..GatherOptions::default()
        },
    )
    .unwrap();
    let a_relayed = a.transport.relayed_addr().unwrap();
    assert!(a_relayed.is_ipv6(), "{a_relayed}");
    let mut a_t = a.transport;
    let mut b_t = MediaTransport::from_socket(b_sock).unwrap();
    let b_host = b_t.local_addr();
    // An IPv4 candidate of the peer is left alone by an IPv6 allocation.
    let v4 = Candidate::new(CandidateKind::Host, "127.0.0.1:9".parse().unwrap(), 2);
    let v6 = Candidate::new(CandidateKind::Host, b_host, 1);
    a_t.prepare_peer(&[v4, v6], std::time::Instant::now());

    let (route, p) = deliver(&mut a_t, Route::Relayed(b_host), &mut b_t, |_, _| true);
    assert_eq!(route, Route::Direct(a_relayed));
    assert_eq!(p.len(), PACKET_LEN);
    let (route, _) = deliver(&mut b_t, Route::Direct(a_relayed), &mut a_t, |_, _| true);
    assert_eq!(route, Route::Relayed(b_host));
}
