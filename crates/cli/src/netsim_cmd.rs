//! `pqvoice netsim`: run the seeded impairment relay until interrupted.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use engine::netsim::{ImpairmentConfig, Relay};

/// Options of `pqvoice netsim`.
#[derive(Debug, clap::Args)]
pub struct NetsimArgs {
    /// Address clients send to (loopback only).
    #[arg(long)]
    pub listen: SocketAddr,
    /// Address datagrams are forwarded to (loopback only).
    #[arg(long)]
    pub forward: SocketAddr,
    /// Random loss in percent, each direction.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Mean loss-burst length in packets (1 = independent losses).
    #[arg(long, default_value_t = 1.0)]
    pub burst: f64,
    /// Fixed one-way delay in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub delay: u64,
    /// Uniform delay variation (±) in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub jitter: u64,
    /// Percentage of packets held back 30 ms so later ones overtake them.
    #[arg(long, default_value_t = 0.0)]
    pub reorder: f64,
    /// Percentage of packets delivered twice.
    #[arg(long, default_value_t = 0.0)]
    pub duplicate: f64,
    /// Seed of the impairment decisions.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stop after this many seconds (runs until killed otherwise).
    #[arg(long)]
    pub duration: Option<f64>,
}

impl NetsimArgs {
    /// The impairment model these options describe.
    pub fn config(&self) -> ImpairmentConfig {
        ImpairmentConfig {
            loss: self.loss / 100.0,
            burst: self.burst,
            delay: Duration::from_millis(self.delay),
            jitter: Duration::from_millis(self.jitter),
            reorder: self.reorder / 100.0,
            duplicate: self.duplicate / 100.0,
            ..Default::default()
        }
    }
}

/// Runs the relay, printing counters to stderr every few seconds.
pub fn run(args: &NetsimArgs) -> anyhow::Result<()> {
    let relay = Relay::start(args.listen, args.forward, args.config(), args.seed)?;
    eprintln!(
        "netsim: {} <-> {} loss {}% burst {} delay {} ms jitter ±{} ms reorder {}% seed {}",
        relay.listen_addr(),
        args.forward,
        args.loss,
        args.burst,
        args.delay,
        args.jitter,
        args.reorder,
        args.seed
    );
    let start = Instant::now();
    let end = args.duration.map(Duration::from_secs_f64);
    let mut last_report = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if end.is_some_and(|e| start.elapsed() >= e) {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            let s = relay.stats();
            eprintln!(
                "netsim: forward {} in / {} lost / {} out, backward {} in / {} lost / {} out",
                s.forward.received.load(Ordering::Relaxed),
                s.forward.dropped.load(Ordering::Relaxed),
                s.forward.sent.load(Ordering::Relaxed),
                s.backward.received.load(Ordering::Relaxed),
                s.backward.dropped.load(Ordering::Relaxed),
                s.backward.sent.load(Ordering::Relaxed),
            );
        }
    }
    relay.stop();
    Ok(())
}
