//! A peer address the relay refuses (here: coturn's `denied-peer-ip`) costs
//! one ChannelBind, not one per packet: relayed sends to it are dropped and
//! the bind is not asked again for a while. The allocation stays usable.

mod net_support;

use std::time::{Duration, Instant};

use engine::net::{self, GatherOptions, IceServers, Route, TurnTransport};
use net_support::{Coturn, Forwarder, packet};

#[test]
fn a_refused_peer_costs_one_bind_not_one_per_packet() {
    let coturn = Coturn::start_with(&["denied-peer-ip=127.0.0.2"]);
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
    let mut a = net::gather(&servers, &opts).unwrap().transport;
    let refused = "127.0.0.2:9".parse().unwrap();
    for seq in 0..100 {
        a.send(Route::Relayed(refused), &packet(seq), Instant::now())
            .unwrap();
        std::thread::sleep(Duration::from_millis(10));
        net_support::drain(&mut a);
    }
    let types: Vec<u16> = tap
        .seen()
        .iter()
        .filter(|s| s.bytes.len() >= 20)
        .map(|s| u16::from_be_bytes([s.bytes[0], s.bytes[1]]))
        .collect();
    let binds = types.iter().filter(|&&t| t == 0x0009).count();
    let refusals = types.iter().filter(|&&t| t == 0x0119).count();
    assert_eq!((binds, refusals), (1, 1), "{types:04x?}");
    let c = a.counters();
    assert_eq!(c.relay_unbound_drops, 100);
    assert_eq!(c.relay_sent, 0);
    assert!(a.relayed_addr().is_some());
}
