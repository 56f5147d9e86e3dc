//! Which pair carries a call, over real loopback UDP between two engines:
//! a peer whose best candidates are dead is still reached on the one that
//! works, a carrying path that dies mid-call is replaced while the media
//! keeps flowing, and a call on which nothing answers ends with no path.
//!
//! The dead candidates are sockets the test holds and never reads; the path
//! that dies is a forwarder thread in front of the callee that the test cuts.

#[path = "common/call_thread.rs"]
mod call_thread;
#[path = "common/cut_forwarder.rs"]
mod cut_forwarder;
#[path = "common/handshake.rs"]
mod handshake;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use call_thread::{addr, bind, drain, echo, options, received_since, side_on};
use cut_forwarder::CutForwarder;
use engine::call::{CallEnd, CallHandle, CallStats, PeerPath};
use engine::clock::unix_now;
use proto::handshake::Established;

/// The real handshake; the first candidate of each list is its preferred one.
fn handshake(caller: Vec<SocketAddr>, callee: Vec<SocketAddr>) -> (Established, Established) {
    handshake::handshake(handshake::Setup {
        alice_seed: 0xD1,
        bob_seed: 0xD2,
        call_id: 20,
        randoms: [0x41, 0x42, 0x43],
        now: unix_now(),
        caller_candidates: caller,
        callee_candidates: callee,
    })
}

#[test]
fn dead_candidates_first_and_a_live_one_last_still_connect() {
    let (a, b) = (bind(), bind());
    let dead: Vec<UdpSocket> = (0..3).map(|_| bind()).collect();
    let mut callee_candidates: Vec<SocketAddr> = dead.iter().map(addr).collect();
    callee_candidates.push(addr(&b));
    let (caller, callee) = handshake(vec![addr(&a)], callee_candidates);

    let bob = CallHandle::default();
    let callee = side_on(callee, b.try_clone().expect("clone"), echo(), bob.clone());
    let caller = side_on(
        caller,
        a,
        options(Duration::from_secs(4)),
        CallHandle::default(),
    );
    let (report, _) = caller.join().expect("caller thread");
    bob.hang_up();
    let _ = callee.join().expect("callee thread");

    assert_eq!(report.end, CallEnd::Finished);
    assert_eq!(report.stats.peer, Some(addr(&b)));
    assert_eq!(report.stats.path.as_deref(), Some("direct"));
    assert_eq!(report.stats.ip_version, Some(4));
    assert!(
        report.stats.packets_received >= 100,
        "only {} packets came back",
        report.stats.packets_received
    );
    // The dead candidates got checks, and nothing else.
    for (i, d) in dead.iter().enumerate() {
        let n = drain(d);
        assert!(n >= 1, "dead candidate {i} was never checked");
        assert!(
            n <= PeerPath::MAX_CHECKS_PER_PAIR,
            "dead candidate {i} got {n}"
        );
    }
}

#[test]
fn a_path_that_dies_mid_call_is_replaced_and_the_media_keeps_flowing() {
    let (a, b) = (bind(), bind());
    let forwarder = CutForwarder::start(addr(&b));
    // The forwarder is the callee's preferred candidate, its own socket the
    // second.
    let (caller, callee) = handshake(vec![addr(&a)], vec![forwarder.front, addr(&b)]);
    let bob = CallHandle::default();
    let callee = side_on(callee, b.try_clone().expect("clone"), echo(), bob.clone());
    let length = Duration::from_secs(9);
    let cut_at = Duration::from_secs(3);
    let caller = side_on(caller, a, options(length), CallHandle::default());
    std::thread::sleep(cut_at);
    forwarder.cut();
    let (report, seen) = caller.join().expect("caller thread");
    bob.hang_up();
    let _ = callee.join().expect("callee thread");
    let front = forwarder.front;
    drop(forwarder);

    assert_eq!(report.end, CallEnd::Finished);
    let before: Vec<&CallStats> = seen
        .iter()
        .filter(|(t, _)| *t < cut_at)
        .map(|(_, s)| s)
        .collect();
    let last_before = before.last().expect("stats before the cut");
    assert_eq!(
        last_before.peer,
        Some(front),
        "the better pair did not carry the call: {:?}",
        before.iter().map(|s| s.peer).collect::<Vec<_>>()
    );
    // The call moved to the callee's own socket, once more than before.
    assert_eq!(report.stats.peer, Some(addr(&b)));
    assert_eq!(report.stats.path.as_deref(), Some("direct"));
    assert!(
        report.stats.path_switches > last_before.path_switches,
        "no switch after the cut: {} then {}",
        last_before.path_switches,
        report.stats.path_switches
    );
    // Media kept coming over the last three seconds of the call.
    let gained = received_since(&seen, &report, length - Duration::from_secs(3));
    assert!(gained >= 75, "only {gained} packets in the last 3 s");
}

#[test]
fn a_call_on_which_nothing_answers_ends_with_no_path() {
    let a = bind();
    let dead = bind();
    let (caller, _callee) = handshake(vec![addr(&a)], vec![addr(&dead)]);
    let started = Instant::now();
    let (report, seen) = side_on(
        caller,
        a,
        options(Duration::from_secs(30)),
        CallHandle::default(),
    )
    .join()
    .expect("caller thread");
    assert_eq!(report.end, CallEnd::NoPath);
    assert_eq!(report.end.describe(), "no network path to the other side");
    let took = started.elapsed();
    assert!(
        took >= PeerPath::NO_PATH_AFTER - Duration::from_millis(500)
            && took < PeerPath::NO_PATH_AFTER + Duration::from_secs(3),
        "gave up after {took:?}"
    );
    // Nothing was selected, so no media went anywhere: only checks.
    assert!(
        seen.iter()
            .all(|(_, s)| s.peer.is_none() && s.path.is_none())
    );
    assert_eq!(report.stats.packets_sent, report.stats.probes_sent);
    assert!(drain(&dead) <= PeerPath::MAX_CHECKS_PER_PAIR);
}
