//! A transport that goes away releases its relay allocation at once (a
//! Refresh with lifetime 0) instead of leaving it to time out on the server.

mod net_support;

use std::time::{Duration, Instant};

use net_support::{Coturn, count_stun, gather_tapped_relay};

#[test]
fn dropping_the_transport_deletes_the_allocation() {
    let coturn = Coturn::start();
    let (tap, gathered) = gather_tapped_relay(&coturn);
    assert!(gathered.transport.relayed_addr().is_some());
    let refreshes = |outbound: bool, msg_type: u16| count_stun(&tap.seen(), outbound, msg_type);
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
