//! What the connectivity checks cost a clean call, over real loopback UDP
//! between two engines whose offers list addresses nobody answers at (a
//! LAN address the other side cannot reach, say), some ranked above the
//! one that works and some below.
//!
//! Every check is a sealed packet with a packet number of the call, so
//! each one sent to a dead address is a lost packet in the peer's count.
//! Once the working pair carries the call the checks must stop within two
//! seconds (the pairs above it get one short round, the ones below none),
//! so that the loss the peer sees over the rest of the call is the
//! network's, here none.
//!
//! The dead addresses are sockets the test holds and never reads; it counts
//! what reached each of them.

#[path = "common/call_thread.rs"]
mod call_thread;
#[path = "common/handshake.rs"]
mod handshake;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use call_thread::{addr, bind, drain, echo, options, side_on};
use engine::call::{CallEnd, CallHandle, CallStats, PeerPath};
use engine::clock::unix_now;

/// The peer's packet numbers missing between the last snapshot before
/// `from` and the last one before `to`: the loss one side saw then.
fn lost_between(seen: &[(Duration, CallStats)], from: Duration, to: Duration) -> u64 {
    let at = |t: Duration| {
        seen.iter()
            .rev()
            .find(|(at, _)| *at <= t)
            .map(|(_, s)| (s.packets_lost, s.packets_received))
            .expect("a snapshot")
    };
    let ((lost_a, got_a), (lost_b, got_b)) = (at(from), at(to));
    assert!(got_b >= got_a + 100, "media stalled: {got_a} then {got_b}");
    lost_b.saturating_sub(lost_a)
}

#[test]
fn dead_candidates_stop_costing_packets_soon_after_a_pair_is_chosen() {
    let (a, b) = (bind(), bind());
    // Each side's offer: dead addresses above its live one, and below it.
    let caller_dead: Vec<UdpSocket> = (0..2).map(|_| bind()).collect();
    let callee_dead: Vec<UdpSocket> = (0..5).map(|_| bind()).collect();
    let caller_offer = vec![addr(&caller_dead[0]), addr(&a), addr(&caller_dead[1])];
    let mut callee_offer: Vec<SocketAddr> = callee_dead[..3].iter().map(addr).collect();
    callee_offer.push(addr(&b));
    callee_offer.extend(callee_dead[3..].iter().map(addr));
    let (caller, callee) = handshake::handshake(handshake::Setup {
        alice_seed: 0xE1,
        bob_seed: 0xE2,
        call_id: 21,
        randoms: [0x51, 0x52, 0x53],
        now: unix_now(),
        caller_candidates: caller_offer,
        callee_candidates: callee_offer,
    });

    let length = Duration::from_secs(6);
    let bob = CallHandle::default();
    let callee = side_on(callee, b.try_clone().expect("clone"), echo(), bob.clone());
    let caller = side_on(caller, a, options(length), CallHandle::default());
    // Four seconds in, every check to a dead address has been sent (the
    // last of a round goes 1.6 s after the first; the rest is slack for a
    // loaded machine).
    std::thread::sleep(Duration::from_secs(4));
    let early: Vec<u32> = caller_dead.iter().chain(&callee_dead).map(drain).collect();
    let (report, caller_seen) = caller.join().expect("caller thread");
    bob.hang_up();
    let (callee_report, callee_seen) = callee.join().expect("callee thread");
    let late: Vec<u32> = caller_dead.iter().chain(&callee_dead).map(drain).collect();

    assert_eq!(report.end, CallEnd::Finished);
    assert_eq!(report.stats.peer, Some(addr(&b)));
    assert_eq!(callee_report.stats.path.as_deref(), Some("direct"));
    let (sent, probes) = (report.stats.packets_sent, report.stats.probes_sent);
    let callee_probes = callee_report.stats.probes_sent;
    eprintln!(
        "caller: {sent} sent, {} received, {probes} probes, loss {:.1} % (call {:.1} %); \
         callee: {callee_probes} probes, loss {:.1} % (call {:.1} %); \
         checks at the dead addresses by 4 s {early:?}, after {late:?}",
        report.stats.packets_received,
        report.stats.loss_pct,
        report.stats.loss_pct_call,
        callee_report.stats.loss_pct,
        callee_report.stats.loss_pct_call,
    );

    // Each dead address got one short round at most, all of it early.
    for (i, (&e, &l)) in early.iter().zip(&late).enumerate() {
        assert!(
            e <= PeerPath::CHECKS_PER_ROUND,
            "dead address {i} got {e} checks"
        );
        assert_eq!(l, 0, "dead address {i} still got checks after 4 s");
    }
    // So neither side saw its peer lose anything over the last seconds...
    let (from, to) = (Duration::from_secs(3), length - Duration::from_millis(300));
    assert_eq!(lost_between(&caller_seen, from, to), 0);
    assert_eq!(lost_between(&callee_seen, from, to), 0);
    // ...and the figure the front ends show, over the last few seconds, is
    // back to 0 by the end on both sides.
    assert_eq!(report.stats.loss_pct, 0.0);
    assert_eq!(callee_report.stats.loss_pct, 0.0);
    // The checks are few: consent about twice a second, and one round per
    // dead pair above the chosen one. (Before the short rounds this call
    // sent about 80 each way, 13 or 14 to every dead address.)
    let budget = 3 * PeerPath::CHECKS_PER_ROUND as u64 + 2 * 3 + 2 * 6 + 8;
    assert!(probes <= budget, "caller sent {probes} checks");
    assert!(
        callee_probes <= budget,
        "callee sent {callee_probes} checks"
    );
}
