//! A peer address the relay refuses (here: coturn's `denied-peer-ip`) costs
//! one ChannelBind, not one per packet: relayed sends to it are dropped and
//! the bind is not asked again for a while. The allocation stays usable.

mod net_support;

use std::time::{Duration, Instant};

use engine::net::Route;
use net_support::{Coturn, Seen, gather_tapped_relay, packet};

#[test]
fn a_refused_peer_costs_one_bind_not_one_per_packet() {
    let coturn = Coturn::start_with(&["denied-peer-ip=127.0.0.2"]);
    let (tap, gathered) = gather_tapped_relay(&coturn);
    let mut a = gathered.transport;
    let refused = "127.0.0.2:9".parse().unwrap();
    for seq in 0..100 {
        a.send(Route::Relayed(refused), &packet(seq), Instant::now())
            .unwrap();
        std::thread::sleep(Duration::from_millis(10));
        net_support::drain(&mut a);
    }
    let types: Vec<u16> = tap.seen().iter().filter_map(Seen::stun_type).collect();
    let binds = types.iter().filter(|&&t| t == 0x0009).count();
    let refusals = types.iter().filter(|&&t| t == 0x0119).count();
    assert_eq!((binds, refusals), (1, 1), "{types:04x?}");
    let c = a.counters();
    assert_eq!(c.relay_unbound_drops, 100);
    assert_eq!(c.relay_sent, 0);
    assert!(a.relayed_addr().is_some());
}
