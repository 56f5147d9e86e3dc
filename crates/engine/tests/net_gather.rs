//! Gathering: the candidates a call offers, against a real coturn on
//! loopback (STUN Binding and TURN allocations), with a UDP forwarder in
//! front of the STUN server standing in for a NAT.

mod net_support;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use engine::net::{self, GatherOptions, IceServers, NetError, TurnTransport};
use net_support::{Coturn, Forwarder};
use proto::handshake::CandidateKind;

fn loopback_listen() -> GatherOptions {
    GatherOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..GatherOptions::default()
    }
}

#[test]
fn a_wildcard_socket_offers_its_interfaces_and_loopback_only_when_alone() {
    let gathered = net::gather(&IceServers::default(), &GatherOptions::default()).unwrap();
    let port = gathered.transport.local_addr().port();
    let cands = &gathered.candidates;
    assert!(!cands.is_empty());
    for c in cands {
        assert_eq!(c.kind, CandidateKind::Host);
        assert_eq!(c.addr.port(), port, "{c:?} is not on the socket's port");
        if let IpAddr::V6(v6) = c.addr.ip() {
            assert!(!v6.is_unicast_link_local(), "link-local offered: {c:?}");
            assert!(v6.to_ipv4_mapped().is_none(), "v4-mapped offered: {c:?}");
        }
    }
    // Loopback only on a machine with no other address: a peer elsewhere
    // cannot use it, and checks to it would show up as loss.
    let real = cands.iter().filter(|c| !c.addr.ip().is_loopback()).count();
    let looped = cands.len() - real;
    assert!(
        real == 0 || looped == 0,
        "loopback offered beside real addresses: {cands:?}"
    );
    // Best first.
    assert!(cands.windows(2).all(|w| w[0].priority >= w[1].priority));
}

#[test]
fn the_advertised_address_comes_first_and_can_be_the_only_one() {
    let forwarded: SocketAddr = "198.51.100.7:40000".parse().unwrap();
    let opts = GatherOptions {
        advertise: Some(forwarded),
        ..loopback_listen()
    };
    let gathered = net::gather(&IceServers::default(), &opts).unwrap();
    assert_eq!(gathered.candidates[0].addr, forwarded);
    let local = gathered.transport.local_addr();
    assert!(gathered.candidates.iter().any(|c| c.addr == local));

    let only = GatherOptions {
        advertise_only: true,
        ..opts
    };
    let gathered = net::gather(&IceServers::default(), &only).unwrap();
    let addrs: Vec<_> = gathered.candidates.iter().map(|c| c.addr).collect();
    assert_eq!(addrs, vec![forwarded]);
}

#[test]
fn gathering_finds_the_reflexive_and_the_relayed_address() {
    let coturn = Coturn::start();
    // Binding requests reach coturn through a forwarder, so coturn sees
    // another source address than the socket's: a NAT's mapping.
    let nat = Forwarder::start(coturn.addr);
    let servers = IceServers {
        stun: vec![nat.front],
        turn: vec![coturn.turn(TurnTransport::Udp)],
    };
    let gathered = net::gather(&servers, &loopback_listen()).unwrap();
    let kinds: Vec<_> = gathered.candidates.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            CandidateKind::Host,
            CandidateKind::ServerReflexive,
            CandidateKind::Relayed
        ],
        "{:?}",
        gathered.candidates
    );
    let [host, srflx, relay] = &gathered.candidates[..] else {
        unreachable!()
    };
    assert_eq!(host.addr, gathered.transport.local_addr());
    assert_eq!(srflx.addr, nat.outside);
    assert_eq!(Some(relay.addr), gathered.transport.relayed_addr());
    assert_eq!(relay.addr.ip(), coturn.addr.ip());
    assert_ne!(relay.addr.port(), coturn.addr.port());
    assert_eq!(
        gathered.transport.relay_transport(),
        Some(TurnTransport::Udp)
    );
}

#[test]
fn a_reflexive_address_equal_to_a_host_address_is_not_offered_twice() {
    let coturn = Coturn::start();
    let servers = IceServers {
        stun: vec![coturn.addr],
        turn: vec![],
    };
    let gathered = net::gather(&servers, &loopback_listen()).unwrap();
    let addrs: Vec<_> = gathered
        .candidates
        .iter()
        .map(|c| (c.kind, c.addr))
        .collect();
    assert_eq!(
        addrs,
        vec![(CandidateKind::Host, gathered.transport.local_addr())]
    );
}

#[test]
fn relay_only_offers_nothing_but_the_relay() {
    let coturn = Coturn::start();
    let servers = IceServers {
        stun: vec![coturn.addr],
        turn: vec![coturn.turn(TurnTransport::Udp)],
    };
    let opts = GatherOptions {
        relay_only: true,
        advertise: Some("198.51.100.7:40000".parse().unwrap()),
        ..GatherOptions::default()
    };
    let gathered = net::gather(&servers, &opts).unwrap();
    assert!(gathered.transport.relay_only());
    let cands: Vec<_> = gathered
        .candidates
        .iter()
        .map(|c| (c.kind, c.addr))
        .collect();
    assert_eq!(
        cands,
        vec![(
            CandidateKind::Relayed,
            gathered.transport.relayed_addr().unwrap()
        )]
    );
}

#[test]
fn relay_only_without_a_relay_is_an_error() {
    let coturn = Coturn::start();
    let mut bad = coturn.turn(TurnTransport::Udp);
    bad.password = zeroize::Zeroizing::new("not the password".into());
    for turn in [vec![], vec![bad]] {
        let servers = IceServers {
            stun: vec![coturn.addr],
            turn,
        };
        let opts = GatherOptions {
            relay_only: true,
            ..loopback_listen()
        };
        let err = net::gather(&servers, &opts).unwrap_err();
        assert!(matches!(err, NetError::RelayRequired), "{err:?}");
    }
}

#[test]
fn silent_servers_cost_no_more_than_the_timeout() {
    // A STUN and a TURN "server" that never answer.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let coturn_less = silent.local_addr().unwrap();
    let servers = IceServers {
        stun: vec![coturn_less],
        turn: vec![net_support::credentials_for(coturn_less)],
    };
    let opts = GatherOptions {
        timeout: Duration::from_millis(300),
        ..loopback_listen()
    };
    let started = Instant::now();
    let gathered = net::gather(&servers, &opts).unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let kinds: Vec<_> = gathered.candidates.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, vec![CandidateKind::Host]);
    assert_eq!(gathered.transport.relayed_addr(), None);
}
