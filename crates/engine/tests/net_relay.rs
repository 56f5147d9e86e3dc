//! Relayed media through a real coturn: both directions, all four ways a
//! relayed route can be combined, and on the wire every relayed datagram is
//! the packet plus the same four bytes of ChannelData.

mod net_support;

use std::net::SocketAddr;

use engine::net::{IceServers, MediaTransport, Route, TurnTransport};
use net_support::{Coturn, PACKET_LEN, deliver, gather_loopback, gather_tapped_relay, turn_only};
use proto::handshake::CandidateKind;

/// A sends through its relay (at `a_relayed`) to B's host address, and B
/// answers straight to that relayed address: B sees A's packet come from
/// A's relay, A sees B's come through its relay from B's host, both whole.
fn round_trip_through_a_relay(
    a: &mut MediaTransport,
    a_relayed: SocketAddr,
    b: &mut MediaTransport,
    b_host: SocketAddr,
) {
    let (route, p) = deliver(a, Route::Relayed(b_host), b, |_, _| true);
    assert_eq!(route, Route::Direct(a_relayed));
    assert_eq!(p.len(), PACKET_LEN);
    let (route, p) = deliver(b, Route::Direct(a_relayed), a, |_, _| true);
    assert_eq!(route, Route::Relayed(b_host));
    assert_eq!(p.len(), PACKET_LEN);
}

#[test]
fn relayed_packets_flow_both_ways_as_channel_data() {
    let coturn = Coturn::start();
    // A reaches coturn through a tap, to see what A puts on the wire.
    let (tap, a) = gather_tapped_relay(&coturn);
    let b_servers = IceServers {
        stun: vec![coturn.addr],
        turn: vec![coturn.turn(TurnTransport::Udp)],
    };
    let b = gather_loopback(&b_servers, false);
    let a_relayed = a.transport.relayed_addr().unwrap();
    let b_relayed = b.transport.relayed_addr().unwrap();
    let b_host = b.transport.local_addr();
    assert!(
        b.candidates
            .iter()
            .any(|c| c.kind == CandidateKind::Host && c.addr == b_host)
    );
    let (mut a_t, mut b_t) = (a.transport, b.transport);
    let now = std::time::Instant::now();
    a_t.prepare_peer(&b.candidates, now);
    b_t.prepare_peer(&a.candidates, now);

    // A (relay only) to B's host address, and back.
    round_trip_through_a_relay(&mut a_t, a_relayed, &mut b_t, b_host);
    // Relay to relay, both ways.
    let (route, _) = deliver(&mut b_t, Route::Relayed(a_relayed), &mut a_t, |r, _| {
        *r == Route::Relayed(b_relayed)
    });
    assert_eq!(route, Route::Relayed(b_relayed));
    let (route, p) = deliver(&mut a_t, Route::Relayed(b_relayed), &mut b_t, |r, _| {
        r.is_relayed()
    });
    assert_eq!(route, Route::Relayed(a_relayed));
    assert_eq!(
        p,
        net_support::packet(u32::from_be_bytes(p[1..5].try_into().unwrap()))
    );

    // On A's wire: every datagram carrying media is ChannelData of exactly
    // PACKET_LEN + 4, and no media went as a Send indication.
    let seen = tap.seen();
    let out_media: Vec<_> = seen
        .iter()
        .filter(|s| s.outbound && (0x40..=0x4f).contains(&s.bytes[0]))
        .collect();
    assert!(!out_media.is_empty());
    assert!(
        out_media.iter().all(|s| s.len == PACKET_LEN + 4),
        "{out_media:?}"
    );
    let send_indications = seen
        .iter()
        .filter(|s| s.outbound && s.bytes.len() >= 2 && s.bytes[..2] == [0x00, 0x16])
        .count();
    assert_eq!(send_indications, 0);

    // The counters agree with the wire.
    let c = a_t.counters();
    assert_eq!(c.direct_sent, 0);
    assert_eq!(c.relay_sent, out_media.len() as u64);
    assert_eq!(c.relay_sent_bytes, c.relay_sent * PACKET_LEN as u64);
    assert!(c.relay_received >= 2);
    let in_channel = seen
        .iter()
        .filter(|s| !s.outbound && (0x40..=0x4f).contains(&s.bytes[0]))
        .count() as u64;
    // Overhead: four bytes a ChannelData each way; a payload that came as a
    // Data indication (before the server's channel was up) costs more.
    assert!(c.relay_overhead_bytes >= 4 * (c.relay_sent + in_channel.min(c.relay_received)));
    assert!(c.relay_unbound_drops > 0 || c.relay_sent > 0);
}

#[test]
fn turn_over_tcp_when_only_tcp_is_offered() {
    let coturn = Coturn::start();
    let servers = turn_only(vec![coturn.turn(TurnTransport::Tcp)]);
    let a = gather_loopback(&servers, true);
    assert_eq!(a.transport.relay_transport(), Some(TurnTransport::Tcp));
    let a_relayed = a.transport.relayed_addr().unwrap();
    let mut a_t = a.transport;
    let b_sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut b_t = MediaTransport::from_socket(b_sock).unwrap();
    let b_host = b_t.local_addr();
    let b_cand = proto::handshake::Candidate::new(CandidateKind::Host, b_host, 1);
    a_t.prepare_peer(&[b_cand], std::time::Instant::now());

    round_trip_through_a_relay(&mut a_t, a_relayed, &mut b_t, b_host);
    // 240 bytes need no TCP padding: four bytes of framing each way.
    let c = a_t.counters();
    assert!(c.relay_sent >= 1 && c.relay_received >= 1);
    assert_eq!(
        c.relay_overhead_bytes,
        4 * (c.relay_sent + c.relay_received)
    );
}

#[test]
fn udp_is_kept_when_both_relays_answer() {
    let coturn = Coturn::start();
    let servers = turn_only(vec![
        coturn.turn(TurnTransport::Tcp),
        coturn.turn(TurnTransport::Udp),
    ]);
    let a = gather_loopback(&servers, true);
    assert_eq!(a.transport.relay_transport(), Some(TurnTransport::Udp));
}
