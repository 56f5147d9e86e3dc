//! A long call keeps its relay: the TURN client's timers refresh the
//! allocation, the permissions and the channels, and coturn accepts each
//! refresh. The transport's clock is an argument, so the test moves it 65
//! minutes ahead in 30-second steps (each step's exchanges with the real
//! coturn happen at once in real time) instead of waiting an hour. The
//! client asks for 30-minute allocations and refreshes them a minute before
//! they end, permissions (5 min) every 4 and channels (10 min) every 9.

mod net_support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use engine::net::{MediaTransport, Route};
use net_support::{Coturn, PACKET_LEN, count_stun, deliver, gather_tapped_relay, packet};
use proto::handshake::{Candidate, CandidateKind};

/// Runs `transport` at the virtual time `at` for `real` real time, so the
/// server's answers to what it sent arrive and are taken at `at`.
fn settle(transport: &mut MediaTransport, at: Instant, real: Duration) {
    let until = Instant::now() + real;
    let mut buf = [0u8; 2048];
    transport.handle_timeout(at);
    while Instant::now() < until {
        while transport.recv(&mut buf, at).unwrap().is_some() {}
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn allocation_permissions_and_channels_are_refreshed_over_a_long_call() {
    let coturn = Coturn::start();
    let (tap, gathered) = gather_tapped_relay(&coturn);
    let mut a = gathered.transport;
    let mut b = MediaTransport::from_socket(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
    let b_host = b.local_addr();
    let start = Instant::now();
    a.prepare_peer(&[Candidate::new(CandidateKind::Host, b_host, 1)], start);
    deliver(&mut a, Route::Relayed(b_host), &mut b, |_, _| true);

    let step = Duration::from_secs(30);
    let mut at = Instant::now();
    for _ in 0..130 {
        at += step;
        settle(&mut a, at, Duration::from_millis(20));
        assert!(a.relayed_addr().is_some(), "the allocation was lost");
    }
    // Still relaying, on the channel bound at the start (no send dropped as
    // unbound after the jump).
    let drops_before = a.counters().relay_unbound_drops;
    a.send(Route::Relayed(b_host), &packet(7), at).unwrap();
    settle(&mut a, at, Duration::from_millis(20));
    let deadline = Instant::now() + Duration::from_secs(5);
    let got = loop {
        assert!(
            Instant::now() < deadline,
            "nothing relayed after the refreshes"
        );
        if let Some(got) = net_support::drain(&mut b).pop() {
            break got;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(got.1.len(), PACKET_LEN);
    assert_eq!(a.counters().relay_unbound_drops, drops_before);

    // On the wire: Refresh (0x004), CreatePermission (0x008) and
    // ChannelBind (0x009) each answered with success (class 0x100) again
    // and again over the 65 minutes.
    let seen = tap.seen();
    let refreshed = count_stun(&seen, false, 0x0104);
    let permitted = count_stun(&seen, false, 0x0108);
    let bound = count_stun(&seen, false, 0x0109);
    assert!(refreshed >= 2, "allocation refreshes answered: {refreshed}");
    assert!(
        permitted >= 10,
        "permission refreshes answered: {permitted}"
    );
    assert!(bound >= 5, "channel refreshes answered: {bound}");
    assert_eq!(count_stun(&seen, false, 0x0114), 0, "a refresh was refused");
}
