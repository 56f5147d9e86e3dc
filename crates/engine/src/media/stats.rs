//! Counters of a call's media, and the snapshot the front ends show.

use std::collections::{BTreeSet, VecDeque};
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
    /// Share of the peer's packets lost on the way to us over the last
    /// [`MediaStats::LOSS_WINDOW`], percent (from the peer's first media
    /// packet on, once it arrived): what the call sounds like now.
    pub loss_pct: f64,
    /// The same since the peer's first media packet, percent.
    pub loss_pct_call: f64,
    /// Packet numbers of the peer's missing below the highest one received,
    /// since the call began: lost media, but also the peer's connectivity
    /// checks on pairs that do not work (they spend packet numbers too).
    pub packets_lost: u64,
    /// Share of our packets the peer reports lost over the last
    /// [`MediaStats::LOSS_WINDOW`] of its reports, percent.
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
    /// The session's counters when the peer's first media packet arrived.
    media_start: Option<LossSample>,
    /// Counters at earlier snapshots, oldest first, at least
    /// [`MediaStats::LOSS_SAMPLE_SPACING`] apart, reaching back just past
    /// [`MediaStats::LOSS_WINDOW`].
    loss_samples: VecDeque<LossSample>,
    /// Wire bytes sent and received since the last snapshot.
    sent_bytes: u64,
    recv_bytes: u64,
    /// Wire bytes sent since the start.
    total_sent_bytes: u64,
    last_snapshot: Duration,
    stats: CallStats,
}

/// The loss counters both ways at one moment of the call.
#[derive(Debug, Clone, Copy, Default)]
struct LossSample {
    at: Duration,
    /// Packets of the peer's received, and missing below the highest.
    received: u64,
    lost: u64,
    /// The same as the peer last reported them for ours.
    peer_received: u64,
    peer_lost: u64,
}

impl LossSample {
    fn new(at: Duration, session: &SessionStats) -> Self {
        let (peer_received, peer_lost) =
            session.peer_report.map_or((0, 0), |r| (r.received, r.lost));
        Self {
            at,
            received: session.received,
            lost: session.lost,
            peer_received,
            peer_lost,
        }
    }

    /// Percent of the peer's packets lost between `from` and `self`: the
    /// packet numbers that went by (received + lost, which is the highest
    /// number seen, so it only grows) and the ones missing among them.
    fn loss_since(&self, from: &LossSample) -> f64 {
        let whole = (self.received + self.lost).saturating_sub(from.received + from.lost);
        pct(self.lost.saturating_sub(from.lost), whole)
    }

    /// The same for ours, as the peer reports it.
    fn peer_loss_since(&self, from: &LossSample) -> f64 {
        let whole = (self.peer_received + self.peer_lost)
            .saturating_sub(from.peer_received + from.peer_lost);
        pct(self.peer_lost.saturating_sub(from.peer_lost), whole)
    }
}

impl MediaStats {
    /// How far back the loss figures the front ends show reach. Checks
    /// spend packet numbers too, and those sent on pairs that do not work
    /// count as lost at the peer (it cannot tell them from media); they
    /// all go in a call's first two seconds (see `call::PeerPath`), so a
    /// window lets the figure recover from them while real loss shows
    /// within a few seconds.
    pub const LOSS_WINDOW: Duration = Duration::from_secs(3);
    /// Spacing of the remembered samples (bounds how many are kept).
    const LOSS_SAMPLE_SPACING: Duration = Duration::from_millis(500);

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

    /// Whether [`MediaStats::on_media_started`] was called.
    pub fn media_started(&self) -> bool {
        self.media_start.is_some()
    }

    /// The peer's first media packet arrived at `now`, and `session` is
    /// the session's counters just after it: the packet numbers missing
    /// below it were the peer's checks (and control packets it could not
    /// send yet), not media, so the loss figures count from here. Only the
    /// first call counts.
    pub fn on_media_started(&mut self, now: Duration, session: &SessionStats) {
        if self.media_start.is_none() {
            let mut start = LossSample::new(now, session);
            // The first media packet itself counts as received after it.
            start.received = start.received.saturating_sub(1);
            self.media_start = Some(start);
        }
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
        s.packets_lost = session.lost;
        // Loss since the newest sample at least a window old (or the start
        // of the call), but never from before the peer's media started.
        let sample = LossSample::new(now, session);
        let start = self.media_start.unwrap_or_default();
        let window = self
            .loss_samples
            .iter()
            .rev()
            .find(|x| now.saturating_sub(x.at) >= Self::LOSS_WINDOW)
            .copied()
            .unwrap_or_default();
        let since = if window.at >= start.at { window } else { start };
        s.loss_pct = sample.loss_since(&since);
        s.loss_pct_call = sample.loss_since(&start);
        if session.peer_report.is_some() {
            s.peer_loss_pct = Some(sample.peer_loss_since(&window));
        }
        if self
            .loss_samples
            .back()
            .is_none_or(|last| now.saturating_sub(last.at) >= Self::LOSS_SAMPLE_SPACING)
        {
            self.loss_samples.push_back(sample);
        }
        // Keep one sample at least a window old, none older.
        while self
            .loss_samples
            .get(1)
            .is_some_and(|x| now.saturating_sub(x.at) >= Self::LOSS_WINDOW)
        {
            self.loss_samples.pop_front();
        }
        s.jitter_ms = session.jitter.as_secs_f64() * 1000.0;
        if let Some(rtt) = session.rtt {
            s.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
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

#[cfg(test)]
mod tests {
    use proto::control::ReceiverReport;

    use super::*;
    use crate::codec::{CodecConfig, DEFAULT_PACKET_LEN, DEFAULT_REDUNDANCY};
    use crate::jitter::JitterConfig;

    const S: fn(u64) -> Duration = Duration::from_secs;

    /// The session's counters after `received` packets with `lost` numbers
    /// missing, and the peer's report of ours.
    fn counters(received: u64, lost: u64, peer: (u64, u64)) -> SessionStats {
        SessionStats {
            received,
            lost,
            peer_report: Some(ReceiverReport {
                received: peer.0,
                lost: peer.1,
                duplicates: 0,
                highest_packet_number: peer.0 + peer.1,
                jitter_micros: 0,
            }),
            ..SessionStats::default()
        }
    }

    #[test]
    fn loss_from_checks_in_the_first_seconds_fades_and_real_loss_shows() {
        let sender = MediaSender::for_call(
            CodecConfig::default(),
            usize::from(DEFAULT_PACKET_LEN),
            usize::from(DEFAULT_REDUNDANCY),
        )
        .expect("sender");
        let receiver = MediaReceiver::new(JitterConfig::default()).expect("receiver");
        let mut stats = MediaStats::new(&sender);
        // Twelve of the peer's checks went to pairs that do not work before
        // its first media packet (number 20) arrived at 60 ms...
        assert!(!stats.media_started());
        stats.on_media_started(Duration::from_millis(60), &counters(9, 12, (0, 0)));
        assert!(stats.media_started());
        // ...and six more in its first two seconds, among 50 media packets
        // a second; our own checks did the same to the peer's count.
        let mut received = 9;
        let mut lost = 12;
        let mut peer = (9, 12);
        let mut seen = Vec::new();
        for second in 1..=12 {
            received += 50;
            peer.0 += 50;
            if second <= 2 {
                lost += 3;
                peer.1 += 3;
            }
            // Real loss: five packets in the eleventh second.
            if second == 11 {
                received -= 5;
                lost += 5;
            }
            let s = stats
                .snapshot(
                    S(second),
                    &counters(received, lost, peer),
                    &sender,
                    &receiver,
                )
                .clone();
            seen.push(s);
        }
        // The first second shows the checks sent after media began, not
        // the ones before (those were no media).
        let first = &seen[0];
        assert!(
            (first.loss_pct - 3.0 * 100.0 / 54.0).abs() < 0.5,
            "{}",
            first.loss_pct
        );
        assert_eq!(first.packets_lost, 15, "the raw count keeps every gap");
        // A window after the checks stopped the figure is back to 0.
        let clean = &seen[5];
        assert_eq!(clean.loss_pct, 0.0);
        assert_eq!(clean.peer_loss_pct, Some(0.0));
        assert!(clean.loss_pct_call > 0.0, "the call's figure keeps them");
        // Real loss shows at once and stays in the window.
        let lossy = &seen[10];
        assert!(lossy.loss_pct > 1.5, "{}", lossy.loss_pct);
        assert!(seen[11].loss_pct > 1.0, "{}", seen[11].loss_pct);
        assert_eq!(seen[11].packets_lost, 23);
        // Samples stay bounded, whatever the call's length.
        assert!(stats.loss_samples.len() <= 12);
    }
}
