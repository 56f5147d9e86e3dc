//! Counters of a call's media, and the snapshot the front ends show.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use proto::session::SessionStats;

use super::{IP_UDP_OVERHEAD, MediaReceiver, MediaSender, Protection, pct};

/// Statistics of a call, as shown every second and written at the end.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CallStats {
    /// Seconds since the call started.
    pub elapsed_s: f64,
    /// Latest round-trip time, milliseconds.
    pub rtt_ms: Option<f64>,
    /// Share of the peer's packets lost on the way to us, percent.
    pub loss_pct: f64,
    /// Share of our packets the peer reports lost, percent.
    pub peer_loss_pct: Option<f64>,
    /// Inter-arrival jitter, milliseconds.
    pub jitter_ms: f64,
    /// Delay currently held by the jitter buffer, milliseconds.
    pub jitter_buffer_ms: f64,
    /// Frames that arrived too late to play.
    pub late: u64,
    /// Frames concealed.
    pub concealed: u64,
    /// Frames recovered from in-band FEC.
    pub recovered_fec: u64,
    /// Frames recovered from redundant copies.
    pub recovered_redundant: u64,
    /// Frames inserted while waiting for the network.
    pub expanded: u64,
    /// Frames dropped to reduce delay.
    pub shrunk: u64,
    /// Send bitrate on the wire (IPv4 + UDP included), kbit/s, last interval.
    pub send_kbps: f64,
    /// Receive bitrate on the wire, kbit/s, last interval.
    pub recv_kbps: f64,
    /// Mean send bitrate over the call, kbit/s.
    pub send_kbps_mean: f64,
    /// Packets sent.
    pub packets_sent: u64,
    /// Authenticated packets received.
    pub packets_received: u64,
    /// Datagrams dropped: failed authentication, malformed, replayed.
    pub rejected: u64,
    /// Distinct datagram sizes sent.
    pub sent_sizes: BTreeSet<usize>,
    /// Distinct sizes of authenticated datagrams received.
    pub received_sizes: BTreeSet<usize>,
    /// Playback underruns (samples).
    pub underruns: u64,
    /// Capture overruns (samples).
    pub overruns: u64,
    /// The playback ring level the call keeps, ms: the configured low
    /// water or, when the device takes larger chunks, its largest recent
    /// chunk plus a margin.
    pub playback_target_ms: f64,
    /// Milliseconds from the start of media to the first decoded audio.
    pub first_audio_ms: Option<f64>,
    /// The peer's address on the pair that carries the call (validated:
    /// a ping on it was answered on it, or the peer sent from it after our
    /// checks went there). `None` before a pair is valid.
    pub peer: Option<SocketAddr>,
    /// How the call's packets travel: `"direct"` or `"relayed"` (through
    /// our TURN allocation). `None` before a pair is valid.
    pub path: Option<String>,
    /// IP version of the carrying pair, 4 or 6.
    pub ip_version: Option<u8>,
    /// Times the call moved to another pair after the first one (a better
    /// pair answered later, or the carrying one died).
    pub path_switches: u64,
    /// Bytes the relay framing (ChannelData headers) added, both ways.
    pub relay_overhead_bytes: u64,
    /// Sealed pings sent by the pair checker: connectivity checks, consent
    /// and keepalive pings, probes of new peer addresses.
    pub probes_sent: u64,
    /// The short authentication string ("042 917") once this side knows
    /// it: at once for the caller, after the caller's reveal for the callee.
    pub sas: Option<String>,
    /// Encoder bitrate, bit/s.
    pub codec_bitrate: i32,
    /// Protection mode in force.
    pub protection: Option<Protection>,
    /// Times the protection mode changed.
    pub protection_switches: u64,
    /// CPU time of this call's thread per second of call, percent of one core.
    pub cpu_pct: Option<f64>,
}

/// Accumulates what a call sent and received between two snapshots.
///
/// Sans-IO: the glue reports each datagram as it goes out or comes in, and
/// asks for a [`CallStats`] snapshot at times it chooses (`now` since the
/// start of the media); the interval bitrates cover the time since the
/// previous snapshot.
#[derive(Debug, Clone, Default)]
pub struct MediaStats {
    /// Wire bytes sent and received since the last snapshot.
    sent_bytes: u64,
    recv_bytes: u64,
    /// Wire bytes sent since the start.
    total_sent_bytes: u64,
    last_snapshot: Duration,
    stats: CallStats,
}

impl MediaStats {
    /// Counters at zero, for a call whose sender starts as `sender` does.
    pub fn new(sender: &MediaSender) -> Self {
        Self {
            stats: CallStats {
                codec_bitrate: sender.bitrate(),
                protection: Some(sender.protection()),
                ..CallStats::default()
            },
            ..Self::default()
        }
    }

    /// A sealed datagram of `len` bytes went out.
    pub fn on_sent(&mut self, len: usize) {
        self.sent_bytes += (len + IP_UDP_OVERHEAD) as u64;
        self.stats.packets_sent += 1;
        self.stats.sent_sizes.insert(len);
    }

    /// A sealed ping of the pair checker, `len` bytes, went out.
    pub fn on_probe_sent(&mut self, len: usize) {
        self.on_sent(len);
        self.stats.probes_sent += 1;
    }

    /// An authenticated datagram of `len` bytes arrived.
    pub fn on_received(&mut self, len: usize) {
        self.recv_bytes += (len + IP_UDP_OVERHEAD) as u64;
        self.stats.received_sizes.insert(len);
    }

    /// A datagram failed authentication, did not parse or was a replay.
    pub fn on_rejected(&mut self) {
        self.stats.rejected += 1;
    }

    /// The statistics so far, without taking a snapshot: for fields the
    /// glue sets itself (peer address, SAS, device counters, CPU).
    pub fn current(&mut self) -> &mut CallStats {
        &mut self.stats
    }

    /// Time since the start of the media at the last snapshot.
    pub fn last_snapshot(&self) -> Duration {
        self.last_snapshot
    }

    /// Brings every counter up to `now` (time since the start of the
    /// media) from the session, the sender and the receiver, and starts a
    /// new interval for the bitrates.
    pub fn snapshot(
        &mut self,
        now: Duration,
        session: &SessionStats,
        sender: &MediaSender,
        receiver: &MediaReceiver,
    ) -> &CallStats {
        let secs = now
            .saturating_sub(self.last_snapshot)
            .as_secs_f64()
            .max(1e-3);
        self.total_sent_bytes += self.sent_bytes;
        let s = &mut self.stats;
        s.elapsed_s = now.as_secs_f64();
        s.send_kbps = self.sent_bytes as f64 * 8.0 / secs / 1000.0;
        s.recv_kbps = self.recv_bytes as f64 * 8.0 / secs / 1000.0;
        s.send_kbps_mean =
            self.total_sent_bytes as f64 * 8.0 / now.as_secs_f64().max(1e-3) / 1000.0;
        (self.sent_bytes, self.recv_bytes) = (0, 0);
        s.packets_received = session.received;
        s.loss_pct = pct(session.lost, session.received + session.lost);
        s.jitter_ms = session.jitter.as_secs_f64() * 1000.0;
        if let Some(rtt) = session.rtt {
            s.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
        }
        if let Some(r) = session.peer_report {
            s.peer_loss_pct = Some(pct(r.lost, r.received + r.lost));
        }
        s.codec_bitrate = sender.bitrate();
        s.protection = Some(sender.protection());
        s.protection_switches = sender.switches();
        let js = receiver.stats();
        s.jitter_buffer_ms = receiver.buffer().delay().as_secs_f64() * 1000.0;
        s.late = js.late;
        s.concealed = js.concealed;
        s.recovered_fec = js.recovered_fec;
        s.recovered_redundant = js.recovered_redundant;
        s.expanded = js.expanded;
        s.shrunk = js.shrunk;
        s.first_audio_ms = receiver.first_audio().map(|t| t.as_secs_f64() * 1000.0);
        self.last_snapshot = now;
        &self.stats
    }

    /// The statistics as they stand, for the call's report at the end.
    pub fn into_stats(self) -> CallStats {
        self.stats
    }
}
