//! Where a call's packets go: the candidates before the peer answers, then
//! one validated address (issue 18: validated peer moves and a bounded
//! number of pre-connect datagrams per candidate).

use std::net::SocketAddr;
use std::time::Duration;

/// Where the call's packets go, and when that may change. Sans-IO: the
/// loop tells it what arrived from where, it answers with where to send.
///
/// * **Before the first authenticated packet** every packet also goes to
///   each candidate the peer offered, but each candidate gets at most
///   [`PeerPath::PRECONNECT_MAX_PER_CANDIDATE`] datagrams: the first
///   [`PeerPath::PRECONNECT_BURST`] at the full packet rate (both sides
///   start within a signalling round trip, so this is where calls connect),
///   then one in [`PeerPath::PRECONNECT_TRICKLE`] so that a slow peer can
///   still be reached until the idle timeout.
/// * **An authenticated packet from a candidate** we were already sending
///   to makes it the peer address at once: no new destination gets traffic.
/// * **An authenticated packet from any other address** starts a
///   validation: a sealed probe (a ping) goes there, repeated a few times,
///   and the address becomes the peer address only when the pong for one of
///   those probes arrives *from* it. Until then the call stays where it
///   was. The peer answers a ping towards the address it sends from, so a
///   peer that really moved answers from the new address, while an
///   attacker who replays or relays a genuine packet from a spoofed source
///   cannot make that address answer. An address that used up its probes
///   is left alone for [`PeerPath::FAILED_HOLDOFF`], so that a stream of
///   such packets gets it a few probes, not a steady flow.
#[derive(Debug, Clone)]
pub struct PeerPath {
    candidates: Vec<CandidateBudget>,
    current: Option<SocketAddr>,
    probes: Vec<PendingProbe>,
    /// Addresses that did not answer their probes, and until when they
    /// get no new ones.
    failed: Vec<(SocketAddr, Duration)>,
}

#[derive(Debug, Clone)]
struct CandidateBudget {
    addr: SocketAddr,
    /// Packets the loop wanted to send pre-connect (sent or skipped).
    offered: u32,
    /// Datagrams actually sent to this candidate.
    sent: u32,
}

#[derive(Debug, Clone)]
struct PendingProbe {
    addr: SocketAddr,
    /// Ping ids of the probes sent there; a pong for any of them counts.
    ids: Vec<u32>,
    next_at: Duration,
}

impl PeerPath {
    /// Most datagrams one candidate gets before anything authenticated
    /// arrives from the peer.
    pub const PRECONNECT_MAX_PER_CANDIDATE: u32 = 100;
    /// Datagrams each candidate gets at the full packet rate first.
    pub const PRECONNECT_BURST: u32 = 50;
    /// After the burst, one packet in this many goes to each candidate.
    pub const PRECONNECT_TRICKLE: u32 = 10;
    /// Probes sent to one new address before giving up on it.
    pub const PROBES_PER_ADDRESS: usize = 4;
    /// Interval between repeated probes to one address.
    pub const PROBE_INTERVAL: Duration = Duration::from_millis(250);
    /// Addresses validated at once; a new one beyond this is ignored until
    /// a slot frees, which bounds probe traffic whatever arrives.
    pub const MAX_PENDING_PROBES: usize = 4;
    /// How long an address that never answered its probes gets no new ones.
    pub const FAILED_HOLDOFF: Duration = Duration::from_secs(5);
    /// Failed addresses remembered at once (the oldest is forgotten first).
    const MAX_FAILED: usize = 8;

    /// A path to a peer that offered `candidates`, not connected yet.
    pub fn new(candidates: &[SocketAddr]) -> Self {
        let mut list: Vec<CandidateBudget> = Vec::with_capacity(candidates.len());
        for &addr in candidates {
            // A candidate listed twice gets one budget.
            if !list.iter().any(|c| c.addr == addr) {
                list.push(CandidateBudget {
                    addr,
                    offered: 0,
                    sent: 0,
                });
            }
        }
        Self {
            candidates: list,
            current: None,
            probes: Vec::with_capacity(Self::MAX_PENDING_PROBES),
            failed: Vec::with_capacity(Self::MAX_FAILED),
        }
    }

    /// The validated peer address, once there is one.
    pub fn current(&self) -> Option<SocketAddr> {
        self.current
    }

    /// Calls `send` with every address the next packet goes to: the peer
    /// address, or before there is one, each candidate whose budget allows.
    pub fn for_each_target(&mut self, mut send: impl FnMut(SocketAddr)) {
        if let Some(addr) = self.current {
            send(addr);
            return;
        }
        for c in &mut self.candidates {
            c.offered = c.offered.saturating_add(1);
            let in_burst = c.offered <= Self::PRECONNECT_BURST;
            let trickle = c.offered.is_multiple_of(Self::PRECONNECT_TRICKLE);
            if c.sent < Self::PRECONNECT_MAX_PER_CANDIDATE && (in_burst || trickle) {
                c.sent += 1;
                send(c.addr);
            }
        }
    }

    /// An authenticated packet arrived from `from` at `now`. Returns true
    /// when a probe should be sealed and sent to `from` now (then report it
    /// with [`PeerPath::probe_sent`]).
    pub fn on_authenticated(&mut self, from: SocketAddr, now: Duration) -> bool {
        if self.current == Some(from) {
            return false;
        }
        if self.current.is_none() && self.candidates.iter().any(|c| c.addr == from) {
            self.current = Some(from);
            self.probes.clear();
            return false;
        }
        self.failed.retain(|&(_, until)| now < until);
        if self.probes.iter().any(|p| p.addr == from)
            || self.probes.len() >= Self::MAX_PENDING_PROBES
            || self.failed.iter().any(|&(a, _)| a == from)
        {
            return false;
        }
        self.probes.push(PendingProbe {
            addr: from,
            ids: Vec::with_capacity(Self::PROBES_PER_ADDRESS),
            next_at: now,
        });
        true
    }

    /// A probe with ping id `id` was sent to `addr` at `now`.
    pub fn probe_sent(&mut self, addr: SocketAddr, id: u32, now: Duration) {
        if let Some(p) = self.probes.iter_mut().find(|p| p.addr == addr) {
            p.ids.push(id);
            p.next_at = now + Self::PROBE_INTERVAL;
        }
    }

    /// A pong with `id` arrived from `from`. Returns true when it answers a
    /// probe sent to `from`: the call moved there.
    pub fn on_pong(&mut self, from: SocketAddr, id: u32) -> bool {
        let answered = self
            .probes
            .iter()
            .any(|p| p.addr == from && p.ids.contains(&id));
        if answered {
            self.current = Some(from);
            self.probes.clear();
        }
        answered
    }

    /// The next address whose probe is due at `now`, if any; addresses
    /// that used up their probes without an answer are dropped here.
    pub fn poll_probe(&mut self, now: Duration) -> Option<SocketAddr> {
        let failed = &mut self.failed;
        self.probes.retain(|p| {
            let keep = p.ids.len() < Self::PROBES_PER_ADDRESS || now < p.next_at;
            if !keep {
                if failed.len() == Self::MAX_FAILED {
                    failed.remove(0);
                }
                failed.push((p.addr, now + Self::FAILED_HOLDOFF));
            }
            keep
        });
        self.probes
            .iter()
            .find(|p| p.ids.len() < Self::PROBES_PER_ADDRESS && now >= p.next_at)
            .map(|p| p.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn each_candidate_gets_a_bounded_number_of_preconnect_packets() {
        let victims: Vec<SocketAddr> = (1..=16).map(addr).collect();
        let mut path = PeerPath::new(&victims);
        let mut sent = std::collections::HashMap::new();
        // Ten minutes of packets at 50 a second, and nothing ever answers.
        for _ in 0..30_000 {
            path.for_each_target(|t| *sent.entry(t).or_insert(0u32) += 1);
        }
        assert_eq!(sent.len(), 16);
        for (t, n) in &sent {
            assert!(
                *n <= PeerPath::PRECONNECT_MAX_PER_CANDIDATE,
                "{t} got {n} datagrams"
            );
            assert!(*n >= PeerPath::PRECONNECT_BURST);
        }
    }

    #[test]
    fn a_candidate_that_answers_carries_the_call_at_once() {
        let mut path = PeerPath::new(&[addr(1), addr(2)]);
        assert!(!path.on_authenticated(addr(2), Duration::ZERO));
        assert_eq!(path.current(), Some(addr(2)));
        let mut targets = Vec::new();
        path.for_each_target(|t| targets.push(t));
        assert_eq!(targets, [addr(2)]);
    }

    #[test]
    fn a_new_address_is_used_only_after_it_answers_a_probe() {
        let ms = Duration::from_millis;
        let mut path = PeerPath::new(&[addr(1)]);
        path.on_authenticated(addr(1), ms(0));
        // A genuine packet from elsewhere: probe, do not move.
        assert!(path.on_authenticated(addr(9), ms(10)));
        path.probe_sent(addr(9), 7, ms(10));
        assert_eq!(path.current(), Some(addr(1)));
        // More packets from there do not start more validations.
        assert!(!path.on_authenticated(addr(9), ms(20)));
        // A pong for the probe from the *old* address proves nothing, nor
        // a pong for another ping from the new one.
        assert!(!path.on_pong(addr(1), 7));
        assert!(!path.on_pong(addr(9), 6));
        assert_eq!(path.current(), Some(addr(1)));
        // The right pong from the probed address moves the call.
        assert!(path.on_pong(addr(9), 7));
        assert_eq!(path.current(), Some(addr(9)));
    }

    #[test]
    fn probes_to_an_address_that_never_answers_stop() {
        let ms = Duration::from_millis;
        let mut path = PeerPath::new(&[addr(1)]);
        path.on_authenticated(addr(1), ms(0));
        assert!(path.on_authenticated(addr(9), ms(0)));
        let mut id = 0;
        path.probe_sent(addr(9), id, ms(0));
        let mut probes = 1;
        for t in (0..10_000).step_by(10) {
            while let Some(a) = path.poll_probe(ms(t)) {
                id += 1;
                path.probe_sent(a, id, ms(t));
                probes += 1;
            }
        }
        assert_eq!(probes, PeerPath::PROBES_PER_ADDRESS);
        assert_eq!(path.current(), Some(addr(1)));
        // More packets from there soon after get no new round of probes...
        // (it gave up at 1 s, when the last probe's interval ran out)...
        assert!(!path.on_authenticated(addr(9), ms(2_000)));
        // ...until the hold-off is over.
        assert!(path.on_authenticated(addr(9), ms(1_000) + PeerPath::FAILED_HOLDOFF));
        // Validations in flight are bounded, whatever arrives.
        let mut path = PeerPath::new(&[addr(1)]);
        path.on_authenticated(addr(1), ms(0));
        let started = (100..200)
            .filter(|&p| path.on_authenticated(addr(p), ms(20_000)))
            .count();
        assert_eq!(started, PeerPath::MAX_PENDING_PROBES);
    }
}
