//! Calls whose path goes through a real TURN relay (coturn on loopback):
//! a relay-only caller reaches a callee that never learns its address, and
//! a call whose direct path is cut mid-call carries on through a relay.
//!
//! Both ends are engines with transports from `net::gather`; their gathered
//! candidates go through the real handshake.

#[path = "common/call_thread.rs"]
mod call_thread;
#[path = "common/cut_forwarder.rs"]
mod cut_forwarder;
// Only the typed handshake is used here.
#[allow(dead_code)]
#[path = "common/handshake.rs"]
mod handshake;
mod net_support;

use std::net::SocketAddr;
use std::time::Duration;

use call_thread::{echo, options, received_since, side};
use cut_forwarder::CutForwarder;
use engine::call::{CallEnd, CallHandle};
use engine::clock::unix_now;
use engine::net::{Gathered, TurnTransport};
use net_support::Coturn;
use proto::handshake::{Candidate, CandidateKind};

fn setup() -> handshake::Setup {
    handshake::Setup {
        alice_seed: 0xE1,
        bob_seed: 0xE2,
        call_id: 21,
        randoms: [0x51, 0x52, 0x53],
        now: unix_now(),
        caller_candidates: vec![],
        callee_candidates: vec![],
    }
}

/// Gathers on loopback with `coturn` as the only server (if given).
fn gather(coturn: Option<&Coturn>, relay_only: bool) -> Gathered {
    let turn = coturn
        .map(|c| c.turn(TurnTransport::Udp))
        .into_iter()
        .collect();
    net_support::gather_loopback(&net_support::turn_only(turn), relay_only)
}

fn relayed_of(candidates: &[Candidate]) -> SocketAddr {
    candidates
        .iter()
        .find(|c| c.kind == CandidateKind::Relayed)
        .expect("a relayed candidate")
        .addr
}

#[test]
fn a_relay_only_caller_reaches_the_callee_through_the_relay() {
    let coturn = Coturn::start();
    let a = gather(Some(&coturn), true);
    let b = gather(None, false);
    let a_relayed = relayed_of(&a.candidates);
    assert!(
        a.candidates
            .iter()
            .all(|c| c.kind == CandidateKind::Relayed)
    );
    let b_host = b.transport.local_addr();
    let (caller, callee) = handshake::handshake_typed(&setup(), a.candidates, b.candidates);

    let bob = CallHandle::default();
    let callee = side(callee, b.transport, echo(), bob.clone());
    let caller = side(
        caller,
        a.transport,
        options(Duration::from_secs(4)),
        CallHandle::default(),
    );
    let (mine, _) = caller.join().expect("caller thread");
    bob.hang_up();
    let (theirs, _) = callee.join().expect("callee thread");

    assert_eq!(mine.end, CallEnd::Finished);
    assert_eq!(mine.stats.path.as_deref(), Some("relayed"));
    assert_eq!(mine.stats.peer, Some(b_host));
    assert!(
        mine.stats.packets_received >= 100,
        "only {} packets came back",
        mine.stats.packets_received
    );
    // Every relayed datagram carried 4 bytes of ChannelData, both ways.
    assert!(
        mine.stats.relay_overhead_bytes >= 4 * 200,
        "{} bytes of relay framing",
        mine.stats.relay_overhead_bytes
    );
    // The callee only ever saw the relay's address, and says so.
    assert_eq!(theirs.stats.peer, Some(a_relayed));
    assert_eq!(theirs.stats.path.as_deref(), Some("relayed"));
    assert_eq!(theirs.stats.relay_overhead_bytes, 0);
}

#[test]
fn a_direct_path_cut_mid_call_falls_back_to_a_relay() {
    let coturn = Coturn::start();
    let mut a = gather(Some(&coturn), false);
    let mut b = gather(Some(&coturn), false);
    // Each side's host candidate is reached through a forwarder the test
    // cuts: the direct path, both ways. (Loopback has no NAT, so a side
    // that could send to the other's socket directly would still find it.)
    let to_a = CutForwarder::start(a.transport.local_addr());
    let to_b = CutForwarder::start(b.transport.local_addr());
    for (gathered, forwarder) in [(&mut a, &to_a), (&mut b, &to_b)] {
        for c in &mut gathered.candidates {
            if c.kind == CandidateKind::Host {
                c.addr = forwarder.front;
            }
        }
    }
    let (caller, callee) = handshake::handshake_typed(&setup(), a.candidates, b.candidates);

    let bob = CallHandle::default();
    let callee = side(callee, b.transport, echo(), bob.clone());
    let length = Duration::from_secs(9);
    let cut_at = Duration::from_secs(3);
    let caller = side(caller, a.transport, options(length), CallHandle::default());
    std::thread::sleep(cut_at);
    to_a.cut();
    to_b.cut();
    let (report, seen) = caller.join().expect("caller thread");
    bob.hang_up();
    let _ = callee.join().expect("callee thread");

    assert_eq!(report.end, CallEnd::Finished);
    let last_before = seen
        .iter()
        .filter(|(t, _)| *t < cut_at)
        .map(|(_, s)| s)
        .next_back()
        .expect("stats before the cut");
    assert_eq!(last_before.path.as_deref(), Some("direct"));
    assert_eq!(last_before.peer, Some(to_b.front));
    // After the cut the media goes through a relay (the callee's
    // allocation, from our socket or through our own allocation).
    let history: Vec<_> = seen
        .iter()
        .map(|(t, s)| (t.as_millis(), s.peer, s.path.clone()))
        .collect();
    assert_eq!(report.stats.path.as_deref(), Some("relayed"), "{history:?}");
    assert!(report.stats.path_switches > last_before.path_switches);
    let gained = received_since(&seen, &report, length - Duration::from_secs(3));
    assert!(gained >= 75, "only {gained} packets in the last 3 s");
}
