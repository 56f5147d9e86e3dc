//! Where a call's packets go: connectivity checks over every candidate
//! pair, the choice of the pair that carries the call, and the move to
//! another pair when that one dies.
//!
//! Sans-IO, like the session: the loop tells [`PeerPath`] what arrived on
//! which [`Route`] and when, asks it where the next sealed ping goes
//! ([`PeerPath::poll_check`]) and where media goes
//! ([`PeerPath::selected`]). Time is the call's age, so the tests run it
//! on a simulated clock.
//!
//! # Pairs
//!
//! A pair is one of our local bases joined with one of the peer's
//! candidates: the call's own socket sending directly (unless the call is
//! relay-only) to every candidate of a family it can reach, and our TURN
//! allocation (when there is one) to every candidate of its family. Each
//! pair has the RFC 8445 pair priority of our base (a direct base counts as
//! a host candidate, the allocation as a relayed one) and the peer's signed
//! candidate, the caller being the controlling side; both ends rank the
//! same paths the same way, so both tend to settle on the same one.
//!
//! # Checks
//!
//! A check is a sealed ping of the call's one packet size: to an observer,
//! and to the relay, it is just another packet of the call. Both ends send
//! them at once as soon as the handshake is done, which is what opens the
//! NATs on both sides (the hole punch). They go out one every
//! [`PeerPath::CHECK_PACE`] in priority order; a pair's round of checks
//! goes at 0, 50, 100, 200, 400, 800 and 1600 ms
//! ([`PeerPath::CHECKS_PER_ROUND`] tries, RFC 8445's Rc), and while no pair
//! carries the call it goes on once a second up to
//! [`PeerPath::MAX_CHECKS_PER_PAIR`] (a peer that starts late must still
//! find our holes open).
//!
//! Every check spends a packet number of the call, so a check that never
//! arrives is a lost packet in the peer's count, which cannot tell it from
//! lost media. Once a pair carries the call, checks are therefore held to
//! what can still improve it (RFC 8445 §8.1.2): pairs ranked below it get
//! none (they are checked again only if it dies), pairs ranked above it
//! finish their round of [`PeerPath::CHECKS_PER_ROUND`] and then fail, and
//! the unanswered checks of a call all come in its first two seconds.
//!
//! A pair becomes valid when
//! * the pong for a ping sent on it comes back on it (the peer answers a
//!   ping on the route it arrived by), or
//! * any authenticated packet arrives on it after we sent checks there: the
//!   peer sends from that address and our packets towards it opened our
//!   side.
//!
//! An authenticated packet on a pair we have not checked yet gets it one
//! check at once, whatever its rank (a triggered check): the peer is there.
//!
//! An authenticated packet on a route that is not a pair (the peer's NAT
//! gave its checks another port: a peer-reflexive address, or a peer that
//! moved) starts a probe there, and the route becomes a pair only when a
//! pong for one of those probes comes back on it. A genuine packet replayed
//! from a spoofed address therefore cannot pull the call there: nobody at
//! that address can answer (issue 18). Probes are bounded:
//! [`PeerPath::MAX_PENDING_PROBES`] at once, [`PeerPath::PROBES_PER_ADDRESS`]
//! each, and an address that never answered is left alone for
//! [`PeerPath::FAILED_HOLDOFF`].
//!
//! # Selection and consent
//!
//! Media goes only on the selected pair, the valid pair of highest
//! priority; nothing is sent before one is valid. A better pair validated
//! later takes over at once: the old one still works, so no packet is lost
//! in the move. The selected pair gets a ping every
//! [`PeerPath::CONSENT_INTERVAL`]; when no pong came back on it for
//! [`PeerPath::CONSENT_TIMEOUT`] it is dead, and every pair that is not
//! valid gets a new round of checks. The best [`PeerPath::MAX_BACKUPS`] of
//! the other valid pairs stay ready for that with a ping every
//! [`PeerPath::BACKUP_INTERVAL`] (these arrive, so they cost bytes but no
//! loss); a valid pair loses its validity after
//! [`PeerPath::BACKUP_TIMEOUT`] without a pong, so the ones beyond that
//! quietly drop back to unchecked. The network that took the selected pair
//! may have taken the backups too: when it dies they become suspect, get a
//! ping at once, and the best one that answers within
//! [`PeerPath::SUSPECT_TIMEOUT`] takes over. The best
//! [`PeerPath::MAX_RECHECKED`] pairs that worked, failed, and would rank
//! above the selected one get one check every
//! [`PeerPath::RECHECK_INTERVAL`], so a call that fell back to the relay
//! returns to the direct path, at the price of a lost packet or two a
//! minute while it does not. A dead pair with nothing to replace it keeps
//! the media (it may recover; the idle timeout decides).
//! No valid pair [`PeerPath::NO_PATH_AFTER`] after the start:
//! [`PeerPath::no_path`].
//!
//! # Budgets
//!
//! The peer's candidate list is signed but chosen by the peer, so it could
//! name someone else's addresses. Checks to a pair that never answers stop
//! after [`PeerPath::MAX_CHECKS_PER_PAIR`] per round, and all checks of the
//! call draw from one bucket ([`PeerPath::CALL_CHECK_BURST`], refilled by
//! one every [`PeerPath::CALL_CHECK_REFILL`]), so that no offer, and no
//! peer that keeps making its pairs die, turns us into a reflector. Pongs
//! to a route that is not valid yet count against the same per-route
//! budgets.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use proto::handshake::{Candidate, CandidateKind, pair_priority};
use proto::schedule::Role;

use crate::net::Route;

/// Our side's ends of the pairs: the call's socket, unless the call sends
/// only through the relay, and the TURN allocation, if there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalBases {
    /// The local address of the call's socket, when direct sending is
    /// allowed.
    pub direct: Option<SocketAddr>,
    /// The relayed address of our TURN allocation.
    pub relayed: Option<SocketAddr>,
}

impl LocalBases {
    /// The priority our end of a pair on `route` has: a direct base counts
    /// as a host candidate, the allocation as a relayed one.
    fn local_priority(self, route: Route) -> u32 {
        let (kind, base) = match route {
            Route::Direct(_) => (CandidateKind::Host, self.direct),
            Route::Relayed(_) => (CandidateKind::Relayed, self.relayed),
        };
        let base = base.unwrap_or(route.remote());
        Candidate::new(kind, base, u16::MAX).priority
    }

    /// Whether we may send on `route` at all.
    fn allows(self, route: Route) -> bool {
        match route {
            Route::Direct(to) => self.direct.is_some_and(|b| can_reach(b, to)),
            Route::Relayed(to) => self.relayed.is_some_and(|b| b.is_ipv4() == to.is_ipv4()),
        }
    }
}

/// Whether a socket bound to `base` can send to `to`: an IPv4 socket only
/// to IPv4, a dual-stack one (bound to `[::]`) to both families, one bound
/// to a particular IPv6 address only to IPv6.
fn can_reach(base: SocketAddr, to: SocketAddr) -> bool {
    match base.ip() {
        IpAddr::V4(_) => to.is_ipv4(),
        IpAddr::V6(ip) => ip.is_unspecified() || to.is_ipv6(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PairState {
    /// Checks go out until the round's budget is spent.
    Checking,
    /// The round's checks went unanswered; nothing is sent until a restart.
    Failed,
    /// A pong (or an authenticated packet after our checks) proved it.
    Valid,
}

/// Ping ids remembered per pair: a pong for any of them counts.
const IDS_PER_PAIR: usize = 8;

#[derive(Debug, Clone)]
struct Pair {
    route: Route,
    priority: u64,
    state: PairState,
    /// The last pings sent on this route (a ring; `None` = unused slot).
    ids: [Option<u32>; IDS_PER_PAIR],
    next_id_slot: usize,
    /// Pings sent on this route since the call started.
    pings: u32,
    /// Checks (and pongs) sent in the current round while not valid.
    round_sent: u32,
    /// When the next check, consent or keepalive ping is due.
    next_at: Duration,
    /// The last pong on this route (or the moment it became valid).
    last_pong: Duration,
    /// Learned from a probe, not from the peer's candidate list.
    peer_reflexive: bool,
    /// The peer's end is a relayed candidate (its TURN allocation).
    remote_relayed: bool,
    /// Was valid at some point: the peer has proved the route is its own.
    was_valid: bool,
    /// Valid, but the selected pair died since its last pong: it may have
    /// died with it, so it is not chosen until it answers again.
    suspect: bool,
    /// The peer reached us on it before we checked it: one check goes out
    /// at once, whatever the pair's rank (RFC 8445 §7.3.1.4).
    triggered: bool,
}

impl Pair {
    fn new(route: Route, priority: u64, now: Duration) -> Self {
        Self {
            route,
            priority,
            state: PairState::Checking,
            ids: [None; IDS_PER_PAIR],
            next_id_slot: 0,
            pings: 0,
            round_sent: 0,
            next_at: now,
            last_pong: now,
            peer_reflexive: false,
            remote_relayed: false,
            was_valid: false,
            suspect: false,
            triggered: false,
        }
    }

    /// A fresh round of checks from `now`.
    fn restart(&mut self, now: Duration) {
        self.state = PairState::Checking;
        self.suspect = false;
        self.triggered = false;
        self.round_sent = 0;
        self.next_at = now;
    }

    fn sent_id(&mut self, id: u32) {
        self.ids[self.next_id_slot] = Some(id);
        self.next_id_slot = (self.next_id_slot + 1) % IDS_PER_PAIR;
        self.pings = self.pings.saturating_add(1);
    }

    fn owns(&self, id: u32) -> bool {
        self.ids.contains(&Some(id))
    }
}

/// A route that sent us something authenticated and is being probed.
#[derive(Debug, Clone)]
struct PendingProbe {
    route: Route,
    /// Ping ids of the probes sent there; a pong for any of them counts.
    ids: Vec<u32>,
    /// Datagrams sent there so far: probes and pongs.
    sent: usize,
    next_at: Duration,
}

/// Which pairs get checks right now, and how many a round.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    /// Priority of the selected pair while it is valid: pairs ranked at or
    /// below it get no checks, and those above it a short round. `None`
    /// while nothing carries the call: every pair gets the long round.
    floor: Option<u64>,
}

impl Schedule {
    /// Checks a pair gets in one round.
    fn limit(self) -> u32 {
        if self.floor.is_some() {
            PeerPath::CHECKS_PER_ROUND
        } else {
            PeerPath::MAX_CHECKS_PER_PAIR
        }
    }

    /// When the next check on `pair` is due, if it gets one.
    fn check_at(self, pair: &Pair) -> Option<Duration> {
        if pair.state != PairState::Checking {
            return None;
        }
        if pair.triggered && pair.round_sent < PeerPath::MAX_CHECKS_PER_PAIR {
            return Some(pair.next_at);
        }
        let ranks_above = self.floor.is_none_or(|floor| pair.priority > floor);
        (ranks_above && pair.round_sent < self.limit()).then_some(pair.next_at)
    }

    /// When `pair`'s round ends unanswered, if it has sent all it will.
    fn fails_at(self, pair: &Pair) -> Option<Duration> {
        (pair.state == PairState::Checking
            && pair.round_sent >= self.limit()
            && self.check_at(pair).is_none())
        .then_some(pair.next_at)
    }
}

/// The connectivity checks and the path choice of one call; see the
/// module docs.
///
/// Drive it like this, with `now` the time since the call started:
///
/// ```text
/// on each authenticated datagram on `route`:
///     if it is a pong:  path.on_pong(route, id, now)
///     path.on_authenticated(route, now)
///     if it is a ping:  send the pong on path.answer_route(route)
/// each turn:   while let Some(r) = path.poll_check(now) { seal a ping, send it on r,
///                                                          path.ping_sent(r, id) }
/// media and other control packets:  on path.selected(), or nowhere
/// wake up no later than path.poll_timeout(); end the call when path.no_path()
/// ```
#[derive(Debug, Clone)]
pub struct PeerPath {
    bases: LocalBases,
    role: Role,
    /// Sorted by priority, highest first.
    pairs: Vec<Pair>,
    selected: Option<Route>,
    /// Until when suspect pairs may still answer.
    suspects_until: Option<Duration>,
    /// When the selected pair was selected (its consent clock starts there).
    selected_at: Duration,
    ever_valid: bool,
    started: Duration,
    no_path: bool,
    switches: u64,
    next_pace: Duration,
    /// The call's check bucket.
    tokens: u32,
    tokens_at: Duration,
    probes: Vec<PendingProbe>,
    /// Routes that did not answer their probes, and until when they get
    /// no new ones.
    failed: Vec<(Route, Duration)>,
    pings_sent: u64,
    pongs_matched: u64,
}

impl PeerPath {
    /// Interval between two checks of the call (any pairs).
    pub const CHECK_PACE: Duration = Duration::from_millis(5);
    /// Gap after the first and the second check of a round; it doubles
    /// after each later one (50, 50, 100, 200, 400, 800 ms)...
    pub const CHECK_INTERVAL_START: Duration = Duration::from_millis(50);
    /// ...up to this.
    pub const CHECK_INTERVAL_MAX: Duration = Duration::from_secs(1);
    /// Checks in a round of a pair ranked above a selected pair that works
    /// (RFC 8445's Rc): the seventh goes 1.6 s after the first, and a pair
    /// that answered none fails one [`PeerPath::CHECK_INTERVAL_MAX`] later.
    pub const CHECKS_PER_ROUND: u32 = 7;
    /// Checks a pair gets in a round while nothing carries the call: the
    /// seven quick ones, then one a second until just past
    /// [`PeerPath::NO_PATH_AFTER`].
    pub const MAX_CHECKS_PER_PAIR: u32 = 16;
    /// Checks the call may send at once...
    pub const CALL_CHECK_BURST: u32 = 300;
    /// ...and how often one more is allowed after that.
    pub const CALL_CHECK_REFILL: Duration = Duration::from_millis(500);
    /// Interval from a pong on the selected pair to its next ping.
    pub const CONSENT_INTERVAL: Duration = Duration::from_millis(500);
    /// Ping interval on the selected pair while its pong is overdue.
    pub const CONSENT_RETRY: Duration = Duration::from_millis(100);
    /// The selected pair is dead after this long without a pong.
    pub const CONSENT_TIMEOUT: Duration = Duration::from_millis(1200);
    /// Ping interval on the backups, which keeps them ready.
    pub const BACKUP_INTERVAL: Duration = Duration::from_secs(1);
    /// Valid pairs besides the selected one that are kept ready (the best
    /// ones): one to fall back on, and one more in case the network that
    /// took the selected pair took the first too.
    pub const MAX_BACKUPS: usize = 2;
    /// Another valid pair stops counting as valid after this long without
    /// a pong.
    pub const BACKUP_TIMEOUT: Duration = Duration::from_millis(3500);
    /// The call has no path when no pair was valid this long after the start.
    pub const NO_PATH_AFTER: Duration = Duration::from_secs(10);
    /// Probes sent to one new route (pongs there included) before giving up.
    pub const PROBES_PER_ADDRESS: usize = 4;
    /// A pair that worked, failed and ranks above the selected one gets one
    /// check this often (a pair that never worked gets none after its round).
    pub const RECHECK_INTERVAL: Duration = Duration::from_secs(20);
    /// Pairs re-checked that way (the best ones): with the interval, at
    /// most six checks a minute that the peer may count as lost.
    pub const MAX_RECHECKED: usize = 2;
    /// After the selected pair died, how long the other valid pairs have to
    /// answer a ping before they count as dead too.
    pub const SUSPECT_TIMEOUT: Duration = Duration::from_millis(500);
    /// Interval between repeated probes to one route.
    pub const PROBE_INTERVAL: Duration = Duration::from_millis(200);
    /// Routes probed at once; a new one beyond this is ignored until a
    /// slot frees, which bounds probe traffic whatever arrives.
    pub const MAX_PENDING_PROBES: usize = 4;
    /// How long a route that never answered its probes gets no new ones.
    pub const FAILED_HOLDOFF: Duration = Duration::from_secs(5);
    /// Pairs learned from probes (peer-reflexive) kept at once.
    pub const MAX_PEER_REFLEXIVE: usize = 4;
    /// Failed routes remembered at once (the oldest is forgotten first).
    const MAX_FAILED: usize = 8;
    /// RFC 8445 §5.1.2.2 type preference of a peer-reflexive candidate:
    /// below host, above server-reflexive.
    const PEER_REFLEXIVE_TYPE_PREFERENCE: u32 = 110;

    /// The pairs of a call whose local ends are `bases`, towards a peer
    /// that offered `remote`, starting at `now`; `role` is this side's role
    /// in the handshake (the caller is controlling).
    pub fn new(bases: LocalBases, remote: &[Candidate], role: Role, now: Duration) -> Self {
        let mut path = Self {
            bases,
            role,
            pairs: Vec::with_capacity(2 * remote.len() + Self::MAX_PEER_REFLEXIVE),
            selected: None,
            suspects_until: None,
            selected_at: now,
            ever_valid: false,
            started: now,
            no_path: false,
            switches: 0,
            next_pace: now,
            tokens: Self::CALL_CHECK_BURST,
            tokens_at: now,
            probes: Vec::with_capacity(Self::MAX_PENDING_PROBES),
            failed: Vec::with_capacity(Self::MAX_FAILED),
            pings_sent: 0,
            pongs_matched: 0,
        };
        for c in remote {
            for route in [Route::Direct(c.addr), Route::Relayed(c.addr)] {
                if bases.allows(route) && path.pair_index(route).is_none() {
                    let i = path.insert_pair(route, c.priority, now);
                    path.pairs[i].remote_relayed = c.kind == CandidateKind::Relayed;
                }
            }
        }
        path
    }

    fn insert_pair(&mut self, route: Route, remote_priority: u32, now: Duration) -> usize {
        let local = self.bases.local_priority(route);
        let priority = match self.role {
            Role::Caller => pair_priority(local, remote_priority),
            Role::Callee => pair_priority(remote_priority, local),
        };
        // After every pair of the same priority: the peer's order breaks ties.
        let at = self.pairs.partition_point(|p| p.priority >= priority);
        self.pairs.insert(at, Pair::new(route, priority, now));
        at
    }

    fn pair_index(&self, route: Route) -> Option<usize> {
        self.pairs.iter().position(|p| p.route == route)
    }

    /// The routes that are pairs, highest priority first.
    pub fn routes(&self) -> impl Iterator<Item = Route> + '_ {
        self.pairs.iter().map(|p| p.route)
    }

    /// Where media and control packets go: the valid pair of highest
    /// priority (or the last one selected, while nothing else is valid).
    /// `None` until a pair is valid: nothing is sent before.
    pub fn selected(&self) -> Option<Route> {
        self.selected
    }

    /// Whether the selected pair passes through a relay: ours (a relayed
    /// route) or the peer's (its relayed candidate). `None` without one.
    pub fn selected_relayed(&self) -> Option<bool> {
        let route = self.selected?;
        let theirs = self
            .pair_index(route)
            .is_some_and(|i| self.pairs[i].remote_relayed);
        Some(route.is_relayed() || theirs)
    }

    /// Whether `route` is a valid pair right now.
    pub fn is_valid(&self, route: Route) -> bool {
        self.pair_index(route)
            .is_some_and(|i| self.pairs[i].state == PairState::Valid)
    }

    /// Times the selected pair changed after the first selection.
    pub fn switches(&self) -> u64 {
        self.switches
    }

    /// Whether the call has given up: no pair became valid within
    /// [`PeerPath::NO_PATH_AFTER`].
    pub fn no_path(&self) -> bool {
        self.no_path
    }

    /// Whether a pair was ever valid.
    pub fn ever_valid(&self) -> bool {
        self.ever_valid
    }

    /// Pings this path had sent that no pong answered (yet): most were lost
    /// on pairs that do not work, and the peer counts their packet numbers
    /// as lost media.
    pub fn unanswered_pings(&self) -> u64 {
        self.pings_sent.saturating_sub(self.pongs_matched)
    }

    /// An authenticated datagram arrived on `route` at `now`.
    pub fn on_authenticated(&mut self, route: Route, now: Duration) {
        if let Some(i) = self.pair_index(route) {
            let pair = &mut self.pairs[i];
            match pair.state {
                PairState::Valid => {}
                // Our checks went there and the peer sends from there: the
                // path works both ways.
                _ if pair.pings > 0 => self.validate(i, now),
                // The peer reached us on a pair we have not checked yet:
                // check it now (a triggered check), even if it ranks below
                // the selected one.
                _ => {
                    if pair.state == PairState::Failed {
                        pair.restart(now);
                    }
                    pair.triggered = true;
                    pair.next_at = now;
                }
            }
            return;
        }
        if !self.bases.allows(route) {
            // A relay-only call never sends directly, whatever arrives.
            return;
        }
        self.failed.retain(|&(_, until)| now < until);
        let prflx = self.pairs.iter().filter(|p| p.peer_reflexive).count();
        if self.probes.iter().any(|p| p.route == route)
            || self.probes.len() >= Self::MAX_PENDING_PROBES
            || prflx >= Self::MAX_PEER_REFLEXIVE
            || self.failed.iter().any(|&(r, _)| r == route)
        {
            return;
        }
        self.probes.push(PendingProbe {
            route,
            ids: Vec::with_capacity(Self::PROBES_PER_ADDRESS),
            sent: 0,
            next_at: now,
        });
    }

    /// A pong with `id` arrived on `route` at `now`. Only a pong for a
    /// ping sent on that same route counts.
    pub fn on_pong(&mut self, route: Route, id: u32, now: Duration) {
        if let Some(i) = self.pair_index(route) {
            if self.pairs[i].owns(id) {
                self.pongs_matched += 1;
                self.validate(i, now);
            }
            return;
        }
        let Some(at) = self
            .probes
            .iter()
            .position(|p| p.route == route && p.ids.contains(&id))
        else {
            return;
        };
        self.pongs_matched += 1;
        self.probes.swap_remove(at);
        // The peer answered from there: a peer-reflexive pair.
        let remote =
            (Self::PEER_REFLEXIVE_TYPE_PREFERENCE << 24) + (u32::from(u16::MAX) << 8) + 255;
        let i = self.insert_pair(route, remote, now);
        self.pairs[i].peer_reflexive = true;
        self.validate(i, now);
    }

    fn validate(&mut self, i: usize, now: Duration) {
        let selected = self.selected == Some(self.pairs[i].route);
        let pair = &mut self.pairs[i];
        if pair.state != PairState::Valid {
            pair.state = PairState::Valid;
            pair.was_valid = true;
            pair.next_at = now + Self::BACKUP_INTERVAL;
        } else if selected {
            pair.next_at = now + Self::CONSENT_INTERVAL;
        }
        pair.last_pong = now;
        pair.suspect = false;
        self.ever_valid = true;
        self.reselect(now);
    }

    /// Makes the best valid pair that is not suspect the selected one;
    /// without one the selection stays as it is.
    fn reselect(&mut self, now: Duration) {
        let Some(best) = self
            .pairs
            .iter()
            .find(|p| p.state == PairState::Valid && !p.suspect)
        else {
            return;
        };
        let best = best.route;
        if self.selected == Some(best) {
            return;
        }
        if self.selected.is_some() {
            self.switches += 1;
        }
        self.selected = Some(best);
        self.selected_at = now;
        if let Some(i) = self.pair_index(best) {
            // Consent starts with a ping at once.
            self.pairs[i].next_at = now;
        }
    }

    /// Where the pong for a ping that arrived on `route` goes: back on that
    /// route when it is a pair or a route being probed (within their
    /// budgets), else on the selected pair, else nowhere. Call it after
    /// [`PeerPath::on_authenticated`] for the same datagram.
    pub fn answer_route(&mut self, route: Route) -> Option<Route> {
        if let Some(i) = self.pair_index(route) {
            let pair = &mut self.pairs[i];
            if pair.state == PairState::Valid {
                return Some(route);
            }
            if pair.round_sent < Self::MAX_CHECKS_PER_PAIR {
                pair.round_sent += 1;
                return Some(route);
            }
        } else if let Some(p) = self.probes.iter_mut().find(|p| p.route == route)
            && p.sent < Self::PROBES_PER_ADDRESS
        {
            p.sent += 1;
            return Some(route);
        }
        self.selected
    }

    /// The route the next ping goes on, if one is due at `now`: consent on
    /// the selected pair, then probes of new routes, then checks in
    /// priority order, then keepalives of the other valid pairs. Seal a
    /// ping, send it there and report its id with [`PeerPath::ping_sent`];
    /// the schedule moves on here either way, so a ping that cannot be
    /// sealed does not come back at once.
    pub fn poll_check(&mut self, now: Duration) -> Option<Route> {
        self.update(now);
        if now < self.next_pace {
            return None;
        }
        let route = self.next_due(now)?;
        self.next_pace = now + Self::CHECK_PACE;
        Some(route)
    }

    fn next_due(&mut self, now: Duration) -> Option<Route> {
        if let Some(sel) = self.selected
            && let Some(i) = self.pair_index(sel)
        {
            let pair = &mut self.pairs[i];
            if pair.state == PairState::Valid && now >= pair.next_at {
                // Until the pong comes back (which puts the next ping a
                // consent interval later), ask again soon: a lossy path gets
                // several chances before it counts as dead.
                pair.next_at = now + Self::CONSENT_RETRY;
                return Some(sel);
            }
        }
        if let Some(pair) = self
            .pairs
            .iter_mut()
            .find(|p| p.state == PairState::Valid && p.suspect && now >= p.next_at)
        {
            pair.next_at = now + Self::BACKUP_INTERVAL;
            return Some(pair.route);
        }
        if let Some(p) = self
            .probes
            .iter_mut()
            .find(|p| p.sent < Self::PROBES_PER_ADDRESS && now >= p.next_at)
        {
            p.sent += 1;
            p.next_at = now + Self::PROBE_INTERVAL;
            return Some(p.route);
        }
        if self.tokens > 0 {
            // Pairs better than the selected one that worked before and
            // failed since are tried again now and then: the path may come
            // back.
            let recheck = self.rechecked().find(|&i| now >= self.pairs[i].next_at);
            if let Some(i) = recheck {
                self.tokens -= 1;
                let pair = &mut self.pairs[i];
                pair.next_at = now + Self::RECHECK_INTERVAL;
                return Some(pair.route);
            }
            // Checks, triggered ones included, best pair first.
            let schedule = self.schedule();
            if let Some(pair) = self
                .pairs
                .iter_mut()
                .find(|p| schedule.check_at(p).is_some_and(|at| now >= at))
            {
                self.tokens -= 1;
                pair.triggered = false;
                pair.round_sent += 1;
                pair.next_at = now + Self::check_gap(pair.round_sent);
                return Some(pair.route);
            }
        }
        let keepalive = self.backups().find(|&i| now >= self.pairs[i].next_at);
        if let Some(i) = keepalive {
            let pair = &mut self.pairs[i];
            pair.next_at = now + Self::BACKUP_INTERVAL;
            return Some(pair.route);
        }
        None
    }

    /// The wait after the `sent`-th check of a round: 50, 50, 100, 200,
    /// 400, 800 ms, then [`PeerPath::CHECK_INTERVAL_MAX`].
    fn check_gap(sent: u32) -> Duration {
        let doublings = sent.saturating_sub(2).min(5);
        (Self::CHECK_INTERVAL_START * (1 << doublings)).min(Self::CHECK_INTERVAL_MAX)
    }

    /// Which pairs get checks now: see [`Schedule`].
    fn schedule(&self) -> Schedule {
        let floor = self
            .selected
            .and_then(|r| self.pair_index(r))
            .map(|i| &self.pairs[i])
            .filter(|p| p.state == PairState::Valid)
            .map(|p| p.priority);
        Schedule { floor }
    }

    /// The valid pairs kept ready besides the selected one: the best
    /// [`PeerPath::MAX_BACKUPS`] that are not suspect (those get their own
    /// pings).
    fn backups(&self) -> impl Iterator<Item = usize> + '_ {
        let selected = self.selected;
        self.pairs
            .iter()
            .enumerate()
            .filter(move |(_, p)| {
                p.state == PairState::Valid && !p.suspect && Some(p.route) != selected
            })
            .map(|(i, _)| i)
            .take(Self::MAX_BACKUPS)
    }

    /// The failed pairs that get a check now and then: the best
    /// [`PeerPath::MAX_RECHECKED`] that worked before and rank above the
    /// selected pair.
    fn rechecked(&self) -> impl Iterator<Item = usize> + '_ {
        let floor = self.selected_priority();
        self.pairs
            .iter()
            .enumerate()
            .filter(move |(_, p)| p.state == PairState::Failed && p.was_valid && p.priority > floor)
            .map(|(i, _)| i)
            .take(Self::MAX_RECHECKED)
    }

    /// A ping with `id` was sealed and sent on `route`.
    pub fn ping_sent(&mut self, route: Route, id: u32) {
        self.pings_sent += 1;
        if let Some(i) = self.pair_index(route) {
            self.pairs[i].sent_id(id);
        } else if let Some(p) = self.probes.iter_mut().find(|p| p.route == route)
            && p.ids.len() < Self::PROBES_PER_ADDRESS
        {
            p.ids.push(id);
        }
    }

    /// Timers: the bucket, consent and freshness, failed rounds, finished
    /// probes and the no-path deadline.
    fn update(&mut self, now: Duration) {
        // Refill the bucket by whole periods.
        let periods =
            now.saturating_sub(self.tokens_at).as_micros() / Self::CALL_CHECK_REFILL.as_micros();
        if periods > 0 {
            let add = u32::try_from(periods).unwrap_or(u32::MAX);
            self.tokens = self.tokens.saturating_add(add).min(Self::CALL_CHECK_BURST);
            self.tokens_at += Self::CALL_CHECK_REFILL * add;
        }

        let mut selected_died = false;
        for pair in &mut self.pairs {
            if pair.state == PairState::Valid {
                let is_selected = Some(pair.route) == self.selected;
                let (from, limit) = if is_selected {
                    (pair.last_pong.max(self.selected_at), Self::CONSENT_TIMEOUT)
                } else {
                    (pair.last_pong, Self::BACKUP_TIMEOUT)
                };
                if now >= from + limit {
                    pair.restart(now);
                    selected_died |= is_selected;
                }
            }
        }
        if selected_died {
            // Everything that is not valid gets checked again: the network
            // changed, so a pair that failed before may work now. The other
            // valid pairs may have died at the same moment (one network
            // going away takes every pair on it): each gets a ping now and
            // takes over only once it answered.
            for pair in &mut self.pairs {
                if pair.state == PairState::Valid {
                    pair.suspect = true;
                    pair.next_at = now;
                } else {
                    pair.restart(now);
                }
            }
            self.suspects_until = Some(now + Self::SUSPECT_TIMEOUT);
        }
        if self.suspects_until.is_some_and(|t| now >= t) {
            self.suspects_until = None;
            for pair in &mut self.pairs {
                if pair.suspect {
                    pair.restart(now);
                }
            }
        }
        self.reselect(now);

        // Rounds that ended unanswered; with a working selected pair, the
        // pairs above it end theirs after the short round.
        let schedule = self.schedule();
        for pair in &mut self.pairs {
            if schedule.fails_at(pair).is_some_and(|at| now >= at) {
                pair.state = PairState::Failed;
                pair.next_at = now + Self::RECHECK_INTERVAL;
            }
        }

        let failed = &mut self.failed;
        self.probes.retain(|p| {
            let keep = p.sent < Self::PROBES_PER_ADDRESS || now < p.next_at;
            if !keep {
                if failed.len() == Self::MAX_FAILED {
                    failed.remove(0);
                }
                failed.push((p.route, now + Self::FAILED_HOLDOFF));
            }
            keep
        });

        if !self.ever_valid && now >= self.started + Self::NO_PATH_AFTER {
            self.no_path = true;
        }
    }

    /// Priority of the selected pair (0 without one): failed pairs above it
    /// are re-checked now and then.
    fn selected_priority(&self) -> u64 {
        self.selected
            .and_then(|r| self.pair_index(r))
            .map_or(0, |i| self.pairs[i].priority)
    }

    /// The next moment [`PeerPath::poll_check`] may have something to do.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let mut t =
            (!self.ever_valid && !self.no_path).then_some(self.started + Self::NO_PATH_AFTER);
        let mut at = |x: Duration| t = Some(t.map_or(x, |t: Duration| t.min(x)));
        // With the bucket empty, checks wait for its next token.
        let token = if self.tokens > 0 {
            Duration::ZERO
        } else {
            self.tokens_at + Self::CALL_CHECK_REFILL
        };
        let schedule = self.schedule();
        for pair in &self.pairs {
            match pair.state {
                PairState::Valid if Some(pair.route) == self.selected => {
                    at(pair.next_at);
                    at(pair.last_pong.max(self.selected_at) + Self::CONSENT_TIMEOUT);
                }
                PairState::Valid => {
                    if pair.suspect {
                        at(pair.next_at);
                    }
                    at(pair.last_pong + Self::BACKUP_TIMEOUT);
                }
                PairState::Checking => {
                    if let Some(check) = schedule.check_at(pair) {
                        at(check.max(token));
                    }
                    if let Some(fail) = schedule.fails_at(pair) {
                        at(fail);
                    }
                }
                PairState::Failed => {}
            }
        }
        for i in self.backups() {
            at(self.pairs[i].next_at);
        }
        for i in self.rechecked() {
            at(self.pairs[i].next_at.max(token));
        }
        for p in &self.probes {
            at(p.next_at);
        }
        if let Some(s) = self.suspects_until {
            at(s);
        }
        t.map(|t| t.max(self.next_pace))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn v4(last: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, last], port))
    }

    fn host(addr: SocketAddr) -> Candidate {
        Candidate::new(CandidateKind::Host, addr, u16::MAX)
    }

    fn srflx(addr: SocketAddr) -> Candidate {
        Candidate::new(CandidateKind::ServerReflexive, addr, u16::MAX)
    }

    fn relay(addr: SocketAddr) -> Candidate {
        Candidate::new(CandidateKind::Relayed, addr, u16::MAX)
    }

    fn both_bases() -> LocalBases {
        LocalBases {
            direct: Some(v4(10, 5000)),
            relayed: Some(SocketAddr::from(([203, 0, 113, 5], 6000))),
        }
    }

    fn direct_only() -> LocalBases {
        LocalBases {
            direct: Some(v4(10, 5000)),
            relayed: None,
        }
    }

    /// The far side as a network: a ping on a route that `live` says works
    /// at that moment comes back as a pong on the same route one `rtt`
    /// later, and the peer's own packets arrive on the routes that work.
    struct Sim {
        now: Duration,
        rtt: Duration,
        next_id: u32,
        in_flight: Vec<(Duration, Route, u32)>,
        /// Pings sent per route.
        sent: HashMap<Route, u32>,
        /// Every ping: when, and on which route.
        log: Vec<(Duration, Route)>,
        /// (time, selected route) whenever the selection changed.
        selections: Vec<(Duration, Option<Route>)>,
    }

    impl Sim {
        fn new() -> Self {
            Self {
                now: Duration::ZERO,
                rtt: MS(30),
                next_id: 0,
                in_flight: Vec::new(),
                sent: HashMap::new(),
                log: Vec::new(),
                selections: Vec::new(),
            }
        }

        /// Runs `path` until `until`, one millisecond at a time.
        fn run(
            &mut self,
            path: &mut PeerPath,
            until: Duration,
            live: impl Fn(Route, Duration) -> bool,
        ) {
            while self.now < until {
                let now = self.now;
                let (due, later): (Vec<_>, Vec<_>) =
                    self.in_flight.drain(..).partition(|&(at, _, _)| at <= now);
                self.in_flight = later;
                for (_, route, id) in due {
                    path.on_pong(route, id, now);
                    path.on_authenticated(route, now);
                }
                while let Some(route) = path.poll_check(now) {
                    self.next_id += 1;
                    path.ping_sent(route, self.next_id);
                    *self.sent.entry(route).or_default() += 1;
                    self.log.push((now, route));
                    if live(route, now) {
                        self.in_flight.push((now + self.rtt, route, self.next_id));
                    }
                }
                // Nothing due now: the next wake-up is in the future, so a
                // loop that sleeps until then cannot spin.
                if let Some(t) = path.poll_timeout() {
                    assert!(t > now, "wake-up {t:?} at {now:?}");
                }
                if self.selections.last().map(|s| s.1) != Some(path.selected()) {
                    self.selections.push((now, path.selected()));
                }
                self.now += MS(1);
            }
        }
    }

    #[test]
    fn pairs_are_checked_in_pair_priority_order() {
        let (h, s, r) = (v4(20, 4000), v4(21, 4001), v4(22, 4002));
        let v6: SocketAddr = "[2001:db8::1]:4000".parse().expect("literal");
        // The peer lists them worst first; the checks still go best first.
        let remote = [relay(r), srflx(s), host(v6), host(h)];
        let mut path = PeerPath::new(both_bases(), &remote, Role::Caller, Duration::ZERO);
        let mut order = Vec::new();
        for t in 0..100 {
            if let Some(route) = path.poll_check(MS(t)) {
                order.push(route);
            }
        }
        let expected = [
            Route::Direct(h),
            Route::Direct(s),
            Route::Direct(r),
            Route::Relayed(h),
            Route::Relayed(s),
            Route::Relayed(r),
        ];
        // An IPv4 socket and an IPv4 allocation cannot reach the IPv6 host.
        assert_eq!(order[..6], expected);
        assert!(!order.iter().any(|r| r.remote() == v6));
        // Paced: six checks take at least five pace intervals.
        assert!(order.len() < 100 / 5 + 1);

        // The callee computes priorities with the caller's candidate as the
        // controlling one: our direct base towards its relay is the same
        // path as its relayed base towards our host, one tie-break lower.
        let callee = PeerPath::new(both_bases(), &remote, Role::Callee, Duration::ZERO);
        let mirrored = [
            expected[0],
            expected[1],
            expected[3],
            expected[2],
            expected[4],
            expected[5],
        ];
        assert_eq!(callee.routes().collect::<Vec<_>>(), mirrored);

        // A direct route to the peer's relayed candidate still goes through
        // a relay.
        let mut p = PeerPath::new(direct_only(), &remote, Role::Caller, Duration::ZERO);
        assert_eq!(p.selected_relayed(), None);
        p.on_authenticated(Route::Direct(r), MS(1));
        p.ping_sent(Route::Direct(r), 1);
        p.on_pong(Route::Direct(r), 1, MS(2));
        assert_eq!(p.selected(), Some(Route::Direct(r)));
        assert_eq!(p.selected_relayed(), Some(true));
        p.ping_sent(Route::Direct(h), 2);
        p.on_pong(Route::Direct(h), 2, MS(3));
        assert_eq!(p.selected_relayed(), Some(false));

        // Relay-only: nothing direct, ever.
        let bases = LocalBases {
            direct: None,
            ..both_bases()
        };
        let path = PeerPath::new(bases, &remote, Role::Caller, Duration::ZERO);
        assert!(path.routes().all(Route::is_relayed));
        assert_eq!(path.routes().count(), 3);

        // A dual-stack socket reaches both families.
        let bases = LocalBases {
            direct: Some("[::]:5000".parse().expect("literal")),
            relayed: None,
        };
        let path = PeerPath::new(bases, &remote, Role::Caller, Duration::ZERO);
        assert_eq!(path.routes().next(), Some(Route::Direct(v6)));
        assert_eq!(path.routes().count(), 4);
    }

    #[test]
    fn nothing_is_selected_until_a_pong_comes_back_on_the_same_route() {
        let (a, b) = (v4(20, 4000), v4(21, 4000));
        let mut path = PeerPath::new(direct_only(), &[host(a), host(b)], Role::Callee, MS(0));
        let first = path.poll_check(MS(0)).expect("a check at once");
        path.ping_sent(first, 1);
        let second = path
            .poll_check(MS(5))
            .expect("the next pair after one pace");
        path.ping_sent(second, 2);
        assert_eq!((first, second), (Route::Direct(a), Route::Direct(b)));
        assert_eq!(path.selected(), None);
        // The pong for the ping sent to `a` arriving from `b` proves nothing
        // about either route.
        path.on_pong(Route::Direct(b), 1, MS(20));
        assert_eq!(path.selected(), None);
        assert!(!path.is_valid(Route::Direct(a)) && !path.is_valid(Route::Direct(b)));
        // From `a` it does.
        path.on_pong(Route::Direct(a), 1, MS(21));
        assert_eq!(path.selected(), Some(Route::Direct(a)));
        assert_eq!(path.switches(), 0);
    }

    #[test]
    fn a_packet_on_a_checked_route_validates_it_and_on_an_unchecked_one_triggers_a_check() {
        let (a, b) = (v4(20, 4000), v4(21, 4000));
        let mut path = PeerPath::new(direct_only(), &[host(a), host(b)], Role::Caller, MS(0));
        let first = path.poll_check(MS(0)).expect("check");
        path.ping_sent(first, 1);
        // The peer's packet arrives on `b`, which we have not checked yet:
        // not valid, but checked next.
        path.on_authenticated(Route::Direct(b), MS(1));
        assert_eq!(path.selected(), None);
        assert_eq!(path.poll_check(MS(5)), Some(Route::Direct(b)));
        path.ping_sent(Route::Direct(b), 2);
        // Now it has our check: the next packet from it validates it.
        path.on_authenticated(Route::Direct(b), MS(6));
        assert_eq!(path.selected(), Some(Route::Direct(b)));
        // `a` (higher priority, checked) then answering takes over.
        path.on_authenticated(Route::Direct(a), MS(7));
        assert_eq!(path.selected(), Some(Route::Direct(a)));
        assert_eq!(path.switches(), 1);
    }

    #[test]
    fn a_better_pair_validated_later_takes_over_without_a_gap() {
        let (h, r) = (v4(20, 4000), v4(22, 4002));
        let mut path = PeerPath::new(both_bases(), &[host(h), relay(r)], Role::Caller, MS(0));
        let mut sim = Sim::new();
        // The relay works at once; the direct path only after 2 s, when the
        // peer, which started late, sends its own first checks and so opens
        // its NAT. Ours had stopped by then (they were answered by nothing
        // for their round), but the peer's check arriving on a pair we
        // checked proves it.
        let opens = Duration::from_secs(2);
        sim.run(&mut path, opens, |route, _| route.is_relayed());
        assert!(path.selected().is_some_and(Route::is_relayed));
        path.on_authenticated(Route::Direct(h), opens);
        sim.run(&mut path, Duration::from_secs(6), |_, _| true);
        let selected: Vec<_> = sim.selections.iter().filter_map(|s| s.1).collect();
        assert!(selected[0].is_relayed(), "{:?}", sim.selections);
        assert_eq!(path.selected(), Some(Route::Direct(h)));
        // Once something carried the call, something always did.
        assert_eq!(sim.selections.iter().filter(|s| s.1.is_none()).count(), 1);
        assert_eq!(path.switches(), 1);
        // The direct pair won soon after it started answering.
        let switched_at = sim.selections.last().expect("switch").0;
        assert!(switched_at >= Duration::from_secs(2) && switched_at < Duration::from_millis(3500));
    }

    #[test]
    fn a_dead_carrying_pair_is_replaced_within_two_seconds_and_comes_back() {
        let (h, r) = (v4(20, 4000), v4(22, 4002));
        let mut path = PeerPath::new(both_bases(), &[host(h), relay(r)], Role::Caller, MS(0));
        let mut sim = Sim::new();
        let (dies, returns) = (Duration::from_secs(5), Duration::from_secs(20));
        let end = returns + PeerPath::RECHECK_INTERVAL + Duration::from_secs(5);
        sim.run(&mut path, end, |route, now| {
            route.is_relayed() || now < dies || now >= returns
        });
        let at = |route: Route| {
            sim.selections
                .iter()
                .find(|(t, s)| *t > dies && *s == Some(route))
                .map(|s| s.0)
        };
        let moved = at(Route::Relayed(h))
            .or(at(Route::Relayed(r)))
            .expect("moved to the relay");
        assert!(moved <= dies + Duration::from_secs(2), "moved at {moved:?}");
        // The direct path is checked again now and then, and wins again
        // once it works.
        let back = at(Route::Direct(h)).expect("moved back");
        let by = returns + PeerPath::RECHECK_INTERVAL + Duration::from_secs(1);
        assert!(back >= returns && back < by, "back at {back:?}");
        assert_eq!(path.selected(), Some(Route::Direct(h)));
        assert_eq!(path.switches(), 2, "{:?}", sim.selections);
    }

    #[test]
    fn a_lossy_path_is_not_taken_for_a_dead_one() {
        let (h, r) = (v4(20, 4000), v4(22, 4002));
        let mut path = PeerPath::new(both_bases(), &[host(h), relay(r)], Role::Caller, MS(0));
        let mut sim = Sim::new();
        // A fifth of the datagrams lost each way, on every path, for ten
        // minutes: a ping and its pong both arrive 64 % of the time.
        let rng = std::cell::RefCell::new(crate::netsim::SimRng::new(20));
        sim.run(&mut path, Duration::from_secs(600), |_, _| {
            let mut rng = rng.borrow_mut();
            !rng.chance(0.2) && !rng.chance(0.2)
        });
        // Without the quick retries this made 72 switches (a death every
        // 17 s); now a run of seven lost round trips is needed.
        assert!(path.switches() <= 10, "{} switches", path.switches());
        assert_eq!(path.selected(), Some(Route::Direct(h)));
    }

    #[test]
    fn a_dead_pair_with_nothing_to_replace_it_keeps_the_media() {
        let h = v4(20, 4000);
        let mut path = PeerPath::new(direct_only(), &[host(h)], Role::Caller, MS(0));
        let mut sim = Sim::new();
        sim.run(&mut path, Duration::from_secs(8), |_, now| {
            now < Duration::from_secs(2)
        });
        assert_eq!(path.selected(), Some(Route::Direct(h)));
        assert!(!path.is_valid(Route::Direct(h)));
        assert!(
            !path.no_path(),
            "a call that had a path does not end as NoPath"
        );
    }

    #[test]
    fn no_valid_pair_within_ten_seconds_is_no_path() {
        let mut path = PeerPath::new(
            both_bases(),
            &[host(v4(20, 1)), relay(v4(21, 2))],
            Role::Callee,
            MS(0),
        );
        let mut sim = Sim::new();
        sim.run(&mut path, PeerPath::NO_PATH_AFTER - MS(1), |_, _| false);
        assert!(!path.no_path());
        assert_eq!(path.selected(), None);
        assert_eq!(
            path.poll_timeout(),
            Some(PeerPath::NO_PATH_AFTER.max(path.next_pace))
        );
        sim.run(&mut path, PeerPath::NO_PATH_AFTER + MS(1), |_, _| false);
        assert!(path.no_path());
        // No pairs at all (an IPv6-only peer, an IPv4-only socket): the same.
        let v6: SocketAddr = "[2001:db8::1]:4000".parse().expect("literal");
        let mut path = PeerPath::new(direct_only(), &[host(v6)], Role::Callee, MS(0));
        assert_eq!(path.routes().count(), 0);
        assert_eq!(path.poll_check(PeerPath::NO_PATH_AFTER), None);
        assert!(path.no_path());
    }

    #[test]
    fn candidates_that_never_answer_get_a_bounded_number_of_checks() {
        let victims: Vec<Candidate> = (1..=16).map(|i| host(v4(i, 9))).collect();
        let mut path = PeerPath::new(both_bases(), &victims, Role::Caller, MS(0));
        let mut sim = Sim::new();
        // Twenty seconds, then ten minutes of nothing answering.
        let early = Duration::from_secs(20);
        sim.run(&mut path, early, |_, _| false);
        // The per-call bucket holds: 32 pairs would like 640 checks by now.
        let total: u32 = sim.sent.values().sum();
        let refills = (early.as_millis() / PeerPath::CALL_CHECK_REFILL.as_millis()) as u32;
        assert!(
            total <= PeerPath::CALL_CHECK_BURST + refills,
            "{total} checks"
        );
        sim.run(&mut path, Duration::from_secs(600), |_, _| false);
        assert_eq!(sim.sent.len(), 32, "every pair was checked");
        for (route, n) in &sim.sent {
            assert!(*n <= PeerPath::MAX_CHECKS_PER_PAIR, "{route:?} got {n}");
            assert!(*n >= 5, "{route:?} got only {n}");
        }
        let per_victim = |addr: SocketAddr| {
            sim.sent
                .iter()
                .filter(|(r, _)| r.remote() == addr)
                .map(|(_, n)| n)
                .sum::<u32>()
        };
        assert!(per_victim(v4(1, 9)) <= 2 * PeerPath::MAX_CHECKS_PER_PAIR);
    }

    #[test]
    fn a_peer_that_keeps_killing_its_path_gets_a_bounded_check_rate() {
        let mut remote: Vec<Candidate> = (1..=15).map(|i| host(v4(i, 9))).collect();
        let live = v4(100, 9);
        remote.push(srflx(live));
        let mut path = PeerPath::new(direct_only(), &remote, Role::Caller, MS(0));
        let mut sim = Sim::new();
        // The live pair answers one second in four: each death restarts
        // the checks on every other pair.
        let minutes = 10;
        sim.run(
            &mut path,
            Duration::from_secs(60 * minutes),
            |route, now| route.remote() == live && now.as_secs() % 4 == 0,
        );
        let to_others: u32 = sim
            .sent
            .iter()
            .filter(|(r, _)| r.remote() != live)
            .map(|(_, n)| n)
            .sum();
        let refills = (60 * minutes * 1000 / PeerPath::CALL_CHECK_REFILL.as_millis() as u64) as u32;
        assert!(
            to_others <= PeerPath::CALL_CHECK_BURST + refills,
            "{to_others} checks"
        );
        assert!(path.switches() == 0 && path.ever_valid());
    }

    #[test]
    fn a_new_route_is_used_only_after_it_answers_a_probe() {
        let (a, moved) = (v4(20, 4000), Route::Direct(v4(99, 4000)));
        let mut path = PeerPath::new(direct_only(), &[host(a)], Role::Caller, MS(0));
        let mut sim = Sim::new();
        sim.run(&mut path, MS(200), |_, _| true);
        assert_eq!(path.selected(), Some(Route::Direct(a)));
        // A genuine packet from elsewhere: probe it, do not move.
        path.on_authenticated(moved, MS(200));
        assert_eq!(path.poll_check(MS(200)), Some(moved));
        path.ping_sent(moved, 1000);
        assert_eq!(path.selected(), Some(Route::Direct(a)));
        // More packets from there start no second probe.
        path.on_authenticated(moved, MS(201));
        assert_eq!(path.probes.len(), 1);
        // A pong for the probe arriving on the old route proves nothing,
        // nor a pong for another ping on the new one.
        path.on_pong(Route::Direct(a), 1000, MS(210));
        path.on_pong(moved, 999, MS(210));
        assert!(!path.is_valid(moved));
        // The right pong on the probed route makes it a pair, valid; the
        // offered host pair still ranks above a peer-reflexive one.
        path.on_pong(moved, 1000, MS(211));
        assert!(path.is_valid(moved));
        assert_eq!(path.selected(), Some(Route::Direct(a)));
        // When the old route dies, the call moves there.
        sim.now = MS(212);
        sim.run(&mut path, MS(4000), |route, _| route == moved);
        assert_eq!(path.selected(), Some(moved));
    }

    #[test]
    fn probes_to_a_route_that_never_answers_stop_and_are_held_off() {
        let (a, x) = (v4(20, 4000), Route::Direct(v4(66, 1)));
        let mut path = PeerPath::new(direct_only(), &[host(a)], Role::Caller, MS(0));
        let mut sim = Sim::new();
        sim.run(&mut path, MS(100), |_, _| true);
        path.on_authenticated(x, MS(100));
        // The attacker's route gets a pong too (it replayed a ping): from
        // the same budget.
        assert_eq!(path.answer_route(x), Some(x));
        sim.now = MS(100);
        sim.run(&mut path, MS(3000), |route, _| route != x);
        let at_x = sim.sent.get(&x).copied().unwrap_or(0) as usize + 1;
        assert_eq!(at_x, PeerPath::PROBES_PER_ADDRESS);
        // Pongs beyond the budget go to the selected pair instead.
        assert_eq!(path.answer_route(x), Some(Route::Direct(a)));
        // Held off: more packets from there start nothing...
        path.on_authenticated(x, MS(3000));
        assert!(path.probes.is_empty());
        // ...until the hold-off is over.
        path.on_authenticated(x, MS(3000) + PeerPath::FAILED_HOLDOFF);
        assert_eq!(path.probes.len(), 1);

        // Validations in flight are bounded, whatever arrives.
        let mut path = PeerPath::new(direct_only(), &[host(a)], Role::Caller, MS(0));
        for p in 100..200 {
            path.on_authenticated(Route::Direct(v4(66, p)), MS(20_000));
        }
        assert_eq!(path.probes.len(), PeerPath::MAX_PENDING_PROBES);
    }

    #[test]
    fn a_relay_only_call_never_probes_a_direct_route() {
        let bases = LocalBases {
            direct: None,
            ..both_bases()
        };
        let x = Route::Direct(v4(66, 1));
        let mut path = PeerPath::new(bases, &[relay(v4(22, 1))], Role::Caller, MS(0));
        path.on_authenticated(x, MS(1));
        assert!(path.probes.is_empty());
        assert_eq!(path.answer_route(x), None);
        for t in 0..1000 {
            if let Some(r) = path.poll_check(MS(t)) {
                assert!(r.is_relayed());
            }
        }
    }

    /// Pings `sim` sent on `route` after `from`.
    fn sent_after(sim: &Sim, route: Route, from: Duration) -> usize {
        sim.log
            .iter()
            .filter(|&&(t, r)| r == route && t > from)
            .count()
    }

    #[test]
    fn after_selection_the_checks_fall_to_consent_and_backups() {
        // The peer offers four host addresses nobody answers at, ranked
        // above its reflexive address, which works, and its relay.
        let dead: Vec<SocketAddr> = (30..34).map(|i| v4(i, 4000)).collect();
        let (s, r) = (v4(21, 4001), v4(22, 4002));
        let mut remote: Vec<Candidate> = dead.iter().map(|&a| host(a)).collect();
        remote.extend([srflx(s), relay(r)]);
        let mut path = PeerPath::new(both_bases(), &remote, Role::Caller, MS(0));
        let mut sim = Sim::new();
        let live = |route: Route, _| !dead.contains(&route.remote());
        sim.run(&mut path, Duration::from_secs(60), live);

        let (selected_at, selected) = sim.selections[1];
        assert_eq!(selected, Some(Route::Direct(s)), "{:?}", sim.selections);
        assert_eq!(path.selected(), Some(Route::Direct(s)));
        assert_eq!(path.switches(), 0);
        let (higher, lower): (Vec<Route>, Vec<Route>) = path
            .routes()
            .filter(|r| dead.contains(&r.remote()))
            .partition(|r| !r.is_relayed());
        assert_eq!((higher.len(), lower.len()), (4, 4));
        // Dead pairs above the selected one: one short round, then nothing.
        for route in &higher {
            let n = sim.sent[route];
            assert!(n <= PeerPath::CHECKS_PER_ROUND, "{route:?} got {n}");
            assert_eq!(sent_after(&sim, *route, Duration::from_secs(2)), 0);
        }
        // Pairs below it: not one check once it was chosen.
        for route in &lower {
            assert_eq!(sent_after(&sim, *route, selected_at), 0, "{route:?}");
        }
        // From two seconds on: consent on the selected pair (a ping 500 ms
        // after each pong) and one ping a second to each kept backup.
        let routes: std::collections::HashSet<Route> = sim
            .log
            .iter()
            .filter(|(t, _)| *t >= Duration::from_secs(2))
            .map(|&(_, r)| r)
            .collect();
        // (Here only the direct route to the relay was valid in time to be
        // one: the relayed pairs came after the choice in the check order.)
        assert!(routes.contains(&Route::Direct(s)));
        assert!(routes.len() <= 1 + PeerPath::MAX_BACKUPS, "{routes:?}");
        for second in 2..60 {
            let from = Duration::from_secs(second);
            let n = sim
                .log
                .iter()
                .filter(|(t, _)| *t >= from && *t < from + Duration::from_secs(1))
                .count();
            assert!(
                n <= 2 + PeerPath::MAX_BACKUPS,
                "{n} pings in second {second}"
            );
        }
        // Before the fix: every pair retried up to 20 times, backing off to
        // 1 s, and every valid pair pinged each second.
        let total = sim.log.len();
        assert!(
            total < 60 * (2 + PeerPath::MAX_BACKUPS) + 40,
            "{total} pings"
        );
    }

    #[test]
    fn lower_pairs_unchecked_after_selection_still_take_over_within_two_seconds() {
        let (h, r) = (v4(20, 4000), v4(22, 4002));
        let mut path = PeerPath::new(both_bases(), &[host(h), relay(r)], Role::Caller, MS(0));
        let mut sim = Sim::new();
        // The direct path works until 5 s; the relay only from 1 s on (its
        // channels were still being bound when the first checks went), so
        // no pair below the direct one is valid when that is chosen.
        let dies = Duration::from_secs(5);
        let live = |route: Route, now: Duration| match route {
            Route::Direct(to) if to == h => now < dies,
            Route::Direct(_) => false,
            Route::Relayed(_) => now >= Duration::from_secs(1),
        };
        sim.run(&mut path, Duration::from_secs(12), live);
        let (selected_at, first) = sim.selections[1];
        assert_eq!(first, Some(Route::Direct(h)));
        // Nothing below it was checked while it worked: only consent.
        let between = sim
            .log
            .iter()
            .filter(|&&(t, r)| t > selected_at && t < dies && r != Route::Direct(h))
            .count();
        assert_eq!(between, 0, "{:?}", sim.log);
        // Its death brings them back into play, in time.
        let moved = sim
            .selections
            .iter()
            .find(|(t, s)| *t > dies && s.is_some_and(Route::is_relayed))
            .map(|s| s.0)
            .expect("moved to the relay");
        assert!(moved <= dies + Duration::from_secs(2), "moved at {moved:?}");
        assert_eq!(path.switches(), 1);
    }

    #[test]
    fn a_pair_that_worked_and_failed_is_rechecked_a_few_times_a_minute() {
        let (h, r) = (v4(20, 4000), v4(22, 4002));
        let mut path = PeerPath::new(both_bases(), &[host(h), relay(r)], Role::Caller, MS(0));
        let mut sim = Sim::new();
        // The direct pairs die for good at 5 s; the relayed ones carry on.
        let dies = Duration::from_secs(5);
        sim.run(&mut path, Duration::from_secs(605), |route, now| {
            route.is_relayed() || now < dies
        });
        assert!(path.selected().is_some_and(Route::is_relayed));
        // After the new round that followed the death (done by 5 + 1.2 + 2.6 s),
        // only the re-checks: one per pair every RECHECK_INTERVAL.
        let settled = Duration::from_secs(10);
        let direct: Vec<Route> = path.routes().filter(|r| !r.is_relayed()).collect();
        let mut rechecks = 0;
        for route in &direct {
            let n = sent_after(&sim, *route, settled);
            let per_pair = (595 / PeerPath::RECHECK_INTERVAL.as_secs() + 1) as usize;
            assert!(n <= per_pair, "{route:?}: {n} re-checks");
            rechecks += n;
        }
        assert!(rechecks > 0, "the direct path was never tried again");
        let per_minute = rechecks as f64 / (595.0 / 60.0);
        assert!(per_minute <= 6.5, "{per_minute:.1} re-checks a minute");
    }
}
