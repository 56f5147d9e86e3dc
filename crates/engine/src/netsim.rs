//! A seeded network impairment model and a UDP relay that applies it.
//!
//! This machine has no `tc netem`, so tests and benchmarks put a userspace
//! relay between two endpoints. The relay is split in two layers:
//!
//! * [`Impairment`] is sans-IO: given the arrival time of a datagram it decides
//!   whether the datagram is dropped, when it is delivered and whether it is
//!   duplicated. It draws every decision from a seeded [`SimRng`], so the same
//!   seed and the same arrival times give the same fate, run after run. The
//!   jitter buffer tests drive it directly with a virtual clock.
//! * [`Relay`] owns two loopback UDP sockets and real threads. Datagrams from
//!   clients of the listening socket go to the forward address; datagrams that
//!   come back from the forward address go to the last client seen. Each
//!   direction has its own [`Impairment`] so the two streams are independent.
//!
//! The relay is bounded: at most [`ImpairmentConfig::max_queue`] datagrams
//! wait at once (more are dropped and counted) and no delay exceeds
//! [`MAX_DELAY`]. It refuses non-loopback addresses, since its only purpose is
//! to sit between processes on this host.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest delay the model will ever assign to a datagram.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// A small, fast, seeded pseudo-random generator (xoshiro256**).
///
/// Not for cryptography: it only has to be reproducible and statistically
/// decent, and keeping it here avoids a dependency whose output could change
/// between versions and silently alter recorded benchmark runs.
#[derive(Debug, Clone)]
pub struct SimRng {
    s: [u64; 4],
}

impl SimRng {
    /// Seeds the generator; equal seeds give equal sequences.
    pub fn new(seed: u64) -> Self {
        // SplitMix64 spreads a small seed over the whole state, which must
        // never be all zero.
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        // 53 random bits fill the mantissa exactly.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p` (clamped to `[0, 1]`).
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// What the network does to datagrams in one direction.
#[derive(Debug, Clone, PartialEq)]
pub struct ImpairmentConfig {
    /// Long-run fraction of datagrams lost, `0.0..=1.0`.
    pub loss: f64,
    /// Mean length of a loss burst in datagrams. `1.0` (or less) means
    /// independent losses; larger values use a two-state Gilbert model with
    /// the same long-run loss rate.
    pub burst: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Each datagram's delay varies uniformly within `delay ± jitter`.
    pub jitter: Duration,
    /// Fraction of datagrams held back by [`ImpairmentConfig::reorder_gap`]
    /// so that later ones overtake them.
    pub reorder: f64,
    /// Extra hold time of a reordered datagram.
    pub reorder_gap: Duration,
    /// Fraction of datagrams delivered twice.
    pub duplicate: f64,
    /// Most datagrams waiting in the relay at once; beyond that they drop.
    pub max_queue: usize,
}

impl Default for ImpairmentConfig {
    fn default() -> Self {
        Self {
            loss: 0.0,
            burst: 1.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder: 0.0,
            reorder_gap: Duration::from_millis(30),
            duplicate: 0.0,
            max_queue: 4096,
        }
    }
}

impl ImpairmentConfig {
    /// Checks that every probability is a probability and no delay is absurd.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [
            ("loss", self.loss),
            ("reorder", self.reorder),
            ("duplicate", self.duplicate),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!(
                    "{name} must be between 0 and 100 %, got {}",
                    p * 100.0
                ));
            }
        }
        if !self.burst.is_finite() || self.burst < 0.0 {
            return Err("burst length must be a positive number".into());
        }
        if self.delay + self.jitter + self.reorder_gap > MAX_DELAY {
            return Err(format!(
                "delay + jitter + reorder gap must stay below {MAX_DELAY:?}"
            ));
        }
        if self.max_queue == 0 {
            return Err("queue bound must be at least 1".into());
        }
        Ok(())
    }
}

/// The fate of one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// The datagram is lost.
    Drop,
    /// Deliver the datagram at `at` (same clock as the `now` given), and again
    /// at `duplicate_at` if set.
    Deliver {
        /// Delivery time.
        at: Duration,
        /// Delivery time of a duplicate copy, if the model made one.
        duplicate_at: Option<Duration>,
    },
}

/// Sans-IO impairment decisions for one direction of traffic.
#[derive(Debug, Clone)]
pub struct Impairment {
    cfg: ImpairmentConfig,
    rng: SimRng,
    /// Gilbert model state: true while inside a loss burst.
    in_burst: bool,
}

impl Impairment {
    /// A model with the given behaviour and seed.
    pub fn new(cfg: ImpairmentConfig, seed: u64) -> Self {
        Self {
            cfg,
            rng: SimRng::new(seed),
            in_burst: false,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ImpairmentConfig {
        &self.cfg
    }

    /// Decides the fate of a datagram that arrives at `now`.
    pub fn decide(&mut self, now: Duration) -> Fate {
        // Draw every random number on every call, whatever the outcome, so
        // that one decision never shifts the random stream of later ones:
        // changing the loss rate then leaves the jitter pattern unchanged.
        let loss_draw = self.rng.unit();
        let burst_draw = self.rng.unit();
        let jitter_draw = self.rng.unit();
        let reorder_draw = self.rng.unit();
        let dup_draw = self.rng.unit();
        let dup_jitter_draw = self.rng.unit();

        if self.lost(loss_draw, burst_draw) {
            return Fate::Drop;
        }
        let delay = |draw: f64| {
            let j = self.cfg.jitter.as_secs_f64();
            let d = self.cfg.delay.as_secs_f64() + (2.0 * draw - 1.0) * j;
            Duration::from_secs_f64(d.max(0.0))
        };
        let mut at = now + delay(jitter_draw);
        if reorder_draw < self.cfg.reorder {
            at += self.cfg.reorder_gap;
        }
        let duplicate_at = (dup_draw < self.cfg.duplicate).then(|| now + delay(dup_jitter_draw));
        Fate::Deliver { at, duplicate_at }
    }

    fn lost(&mut self, loss_draw: f64, burst_draw: f64) -> bool {
        let p = self.cfg.loss;
        if self.cfg.burst <= 1.0 || p <= 0.0 || p >= 1.0 {
            return loss_draw < p;
        }
        // Two-state Gilbert model: inside a burst every datagram is lost and
        // the burst ends with probability 1/L, so bursts last L on average.
        // The entry probability is chosen so the stationary share of the
        // burst state equals p.
        let leave = 1.0 / self.cfg.burst;
        let enter = p * leave / (1.0 - p);
        self.in_burst = if self.in_burst {
            burst_draw >= leave
        } else {
            burst_draw < enter
        };
        self.in_burst
    }
}

/// Counters of one relay direction.
#[derive(Debug, Default)]
pub struct DirectionStats {
    /// Datagrams received from the sender.
    pub received: AtomicU64,
    /// Datagrams dropped by the loss model.
    pub dropped: AtomicU64,
    /// Datagrams dropped because the queue was full.
    pub overflowed: AtomicU64,
    /// Datagrams sent on (duplicates included).
    pub sent: AtomicU64,
}

/// Counters of a running relay.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Client → forward address.
    pub forward: DirectionStats,
    /// Forward address → last client.
    pub backward: DirectionStats,
}

/// Errors starting the relay.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// An address was not a loopback address.
    #[error("netsim only relays on loopback, {0} is not a loopback address")]
    NotLoopback(SocketAddr),
    /// The configuration was inconsistent.
    #[error("invalid impairment: {0}")]
    Config(String),
    /// A socket could not be opened.
    #[error("netsim socket: {0}")]
    Io(#[from] io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dir {
    Forward,
    Backward,
}

struct Queued {
    dir: Dir,
    bytes: Vec<u8>,
}

#[derive(Default)]
struct Schedule {
    /// Min-heap on (delivery time, arrival order).
    heap: BinaryHeap<Reverse<(Duration, u64, usize)>>,
    items: Vec<Option<Queued>>,
    free: Vec<usize>,
    next_order: u64,
    client: Option<SocketAddr>,
}

struct Shared {
    schedule: Mutex<Schedule>,
    wake: Condvar,
    stop: AtomicBool,
    stats: RelayStats,
    start: Instant,
    max_queue: usize,
}

/// A running impairment relay; stops when dropped.
pub struct Relay {
    shared: Arc<Shared>,
    listen_addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("listen", &self.listen_addr)
            .finish()
    }
}

/// Longest a socket read blocks, so threads notice a stop request quickly.
const POLL: Duration = Duration::from_millis(50);

impl Relay {
    /// Starts relaying between clients of `listen` and `forward`.
    ///
    /// The two directions draw from independent generators derived from
    /// `seed`.
    pub fn start(
        listen: SocketAddr,
        forward: SocketAddr,
        cfg: ImpairmentConfig,
        seed: u64,
    ) -> Result<Self, RelayError> {
        for addr in [listen, forward] {
            if !addr.ip().is_loopback() {
                return Err(RelayError::NotLoopback(addr));
            }
        }
        cfg.validate().map_err(RelayError::Config)?;
        let front = UdpSocket::bind(listen)?;
        let back_bind: SocketAddr = if forward.is_ipv4() {
            "127.0.0.1:0".parse().expect("literal address")
        } else {
            "[::1]:0".parse().expect("literal address")
        };
        let back = UdpSocket::bind(back_bind)?;
        front.set_read_timeout(Some(POLL))?;
        back.set_read_timeout(Some(POLL))?;
        let listen_addr = front.local_addr()?;
        let shared = Arc::new(Shared {
            schedule: Mutex::new(Schedule::default()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            stats: RelayStats::default(),
            start: Instant::now(),
            max_queue: cfg.max_queue,
        });
        let front = Arc::new(front);
        let back = Arc::new(back);
        let mut threads = Vec::new();
        {
            let (shared, sock) = (shared.clone(), front.clone());
            let model = Impairment::new(cfg.clone(), seed);
            threads.push(std::thread::spawn(move || {
                receive_loop(&shared, &sock, model, Dir::Forward, None)
            }));
        }
        {
            let (shared, sock) = (shared.clone(), back.clone());
            let model = Impairment::new(cfg, seed ^ 0x5EED_BACC_0000_0001);
            threads.push(std::thread::spawn(move || {
                receive_loop(&shared, &sock, model, Dir::Backward, Some(forward))
            }));
        }
        {
            let shared = shared.clone();
            threads.push(std::thread::spawn(move || {
                send_loop(&shared, &front, &back, forward)
            }));
        }
        Ok(Self {
            shared,
            listen_addr,
            threads,
        })
    }

    /// The address clients send to.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
    }

    /// Live counters.
    pub fn stats(&self) -> &RelayStats {
        &self.shared.stats
    }

    /// Stops the relay threads and waits for them.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        for t in self.threads.drain(..) {
            // A relay thread that panicked has nothing left to clean up.
            let _ = t.join();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn receive_loop(
    shared: &Shared,
    sock: &UdpSocket,
    mut model: Impairment,
    dir: Dir,
    only_from: Option<SocketAddr>,
) {
    let stats = match dir {
        Dir::Forward => &shared.stats.forward,
        Dir::Backward => &shared.stats.backward,
    };
    let mut buf = vec![0u8; 65_536];
    while !shared.stop.load(Ordering::Relaxed) {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            // ICMP port-unreachable surfaces as ConnectionRefused on Linux;
            // the peer may simply not be up yet.
            Err(_) => continue,
        };
        if only_from.is_some_and(|a| a != from) {
            continue;
        }
        stats.received.fetch_add(1, Ordering::Relaxed);
        let now = shared.start.elapsed();
        let Fate::Deliver { at, duplicate_at } = model.decide(now) else {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let mut sched = shared
            .schedule
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if dir == Dir::Forward {
            sched.client = Some(from);
        }
        for when in std::iter::once(at).chain(duplicate_at) {
            if sched.heap.len() >= shared.max_queue {
                stats.overflowed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let order = sched.next_order;
            sched.next_order += 1;
            let item = Queued {
                dir,
                bytes: buf[..n].to_vec(),
            };
            let slot = match sched.free.pop() {
                Some(i) => {
                    sched.items[i] = Some(item);
                    i
                }
                None => {
                    sched.items.push(Some(item));
                    sched.items.len() - 1
                }
            };
            sched.heap.push(Reverse((when, order, slot)));
        }
        drop(sched);
        shared.wake.notify_one();
    }
}

fn send_loop(shared: &Shared, front: &UdpSocket, back: &UdpSocket, forward: SocketAddr) {
    let mut sched = shared
        .schedule
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    while !shared.stop.load(Ordering::Relaxed) {
        let now = shared.start.elapsed();
        let wait = match sched.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => Duration::ZERO,
            Some(Reverse((at, _, _))) => (*at - now).min(POLL),
            None => POLL,
        };
        if !wait.is_zero() {
            sched = shared
                .wake
                .wait_timeout(sched, wait)
                .unwrap_or_else(|poison| poison.into_inner())
                .0;
            continue;
        }
        let Some(Reverse((_, _, slot))) = sched.heap.pop() else {
            continue;
        };
        let Some(item) = sched.items[slot].take() else {
            continue;
        };
        sched.free.push(slot);
        let client = sched.client;
        // Send without holding the lock so receivers keep queueing.
        drop(sched);
        let sent = match item.dir {
            Dir::Forward => back.send_to(&item.bytes, forward).is_ok(),
            Dir::Backward => client.is_some_and(|c| front.send_to(&item.bytes, c).is_ok()),
        };
        if sent {
            let stats = match item.dir {
                Dir::Forward => &shared.stats.forward,
                Dir::Backward => &shared.stats.backward,
            };
            stats.sent.fetch_add(1, Ordering::Relaxed);
        }
        sched = shared
            .schedule
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cfg: &ImpairmentConfig, seed: u64, n: usize) -> Vec<Fate> {
        let mut m = Impairment::new(cfg.clone(), seed);
        (0..n)
            .map(|i| m.decide(Duration::from_millis(20 * i as u64)))
            .collect()
    }

    #[test]
    fn same_seed_same_fates_and_different_seed_different_fates() {
        let cfg = ImpairmentConfig {
            loss: 0.1,
            jitter: Duration::from_millis(10),
            delay: Duration::from_millis(20),
            duplicate: 0.02,
            ..Default::default()
        };
        assert_eq!(run(&cfg, 7, 500), run(&cfg, 7, 500));
        assert_ne!(run(&cfg, 7, 500), run(&cfg, 8, 500));
    }

    #[test]
    fn loss_rate_is_within_tolerance() {
        for (loss, burst) in [(0.05, 1.0), (0.2, 1.0), (0.1, 4.0)] {
            let cfg = ImpairmentConfig {
                loss,
                burst,
                ..Default::default()
            };
            let n = 50_000;
            let fates = run(&cfg, 42, n);
            let lost = fates.iter().filter(|f| **f == Fate::Drop).count();
            let rate = lost as f64 / n as f64;
            assert!(
                (rate - loss).abs() < 0.01,
                "loss {loss} burst {burst}: got {rate}"
            );
        }
    }

    #[test]
    fn bursts_have_the_requested_mean_length() {
        let cfg = ImpairmentConfig {
            loss: 0.1,
            burst: 4.0,
            ..Default::default()
        };
        let fates = run(&cfg, 3, 100_000);
        let (mut bursts, mut lost, mut prev) = (0, 0, false);
        for f in &fates {
            let l = *f == Fate::Drop;
            if l && !prev {
                bursts += 1;
            }
            lost += usize::from(l);
            prev = l;
        }
        let mean = lost as f64 / bursts as f64;
        assert!((mean - 4.0).abs() < 0.4, "mean burst {mean}");
        // Independent losses at the same rate give a mean run close to 1.1.
        let iid = run(
            &ImpairmentConfig {
                loss: 0.1,
                ..Default::default()
            },
            3,
            100_000,
        );
        let runs = iid
            .windows(2)
            .filter(|w| w[1] == Fate::Drop && w[0] != Fate::Drop)
            .count();
        let lost_iid = iid.iter().filter(|f| **f == Fate::Drop).count();
        assert!((lost_iid as f64 / runs as f64) < 1.3);
    }

    #[test]
    fn delays_stay_within_jitter_bounds_and_reorder_happens() {
        let cfg = ImpairmentConfig {
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            reorder: 0.05,
            ..Default::default()
        };
        let fates = run(&cfg, 11, 5000);
        let mut last = Duration::ZERO;
        let mut reordered = 0;
        for (i, f) in fates.iter().enumerate() {
            let Fate::Deliver { at, duplicate_at } = *f else {
                panic!("no loss configured");
            };
            assert_eq!(duplicate_at, None);
            let d = at - Duration::from_millis(20 * i as u64);
            assert!(d >= Duration::from_millis(10), "{d:?}");
            assert!(d <= Duration::from_millis(60), "{d:?}");
            if at < last {
                reordered += 1;
            }
            last = last.max(at);
        }
        assert!(reordered > 100, "{reordered}");
    }

    #[test]
    fn invalid_configs_are_refused() {
        let bad = [
            ImpairmentConfig {
                loss: 1.5,
                ..Default::default()
            },
            ImpairmentConfig {
                delay: Duration::from_secs(60),
                ..Default::default()
            },
            ImpairmentConfig {
                max_queue: 0,
                ..Default::default()
            },
        ];
        for cfg in bad {
            assert!(cfg.validate().is_err(), "{cfg:?}");
        }
        let any = "127.0.0.1:9".parse().expect("addr");
        let public = "192.0.2.1:9".parse().expect("addr");
        assert!(matches!(
            Relay::start(any, public, ImpairmentConfig::default(), 1),
            Err(RelayError::NotLoopback(_))
        ));
    }
}
