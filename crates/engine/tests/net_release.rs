//! A transport that goes away releases its relay allocation at once (a
//! Refresh with lifetime 0) instead of leaving it to time out on the server.

mod net_support;

use std::time::{Duration, Instant};

use engine::net::{self, GatherOptions, IceServers, TurnTransport};
use net_support::{Coturn, Forwarder};

#[test]
fn dropping_the_transport_deletes_the_allocation() {
    let coturn = Coturn::start();
    let tap = Forwarder::start(coturn.addr);
    let servers = IceServers {
        stun: vec![],
        turn: vec![coturn.turn_at(tap.front, TurnTransport::Udp)],
    };
    let opts = GatherOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        relay_only: true,
        ..GatherOptions::default()
    };
    let gathered = net::gather(&servers, &opts).unwrap();
    assert!(gathered.transport.relayed_addr().is_some());
    let refreshes = |outbound: bool, msg_type: u16| {
        tap.seen()
            .iter()
            .filter(|s| s.outbound == outbound && s.bytes.len() >= 20)
            .filter(|s| u16::from_be_bytes([s.bytes[0], s.bytes[1]]) == msg_type)
            .count()
    };
    assert_eq!(refreshes(true, 0x0004), 0);
    drop(gathered);
    // The Refresh went out on drop, and coturn accepted it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while refreshes(false, 0x0104) == 0 {
        assert!(
            Instant::now() < deadline,
            "no answer to the release: {:?}",
            tap.seen()
                .iter()
                .map(|s| (s.outbound, format!("{:02x}{:02x}", s.bytes[0], s.bytes[1])))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(refreshes(true, 0x0004), 1);
}
