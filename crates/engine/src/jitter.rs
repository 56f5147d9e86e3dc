//! The adaptive jitter buffer.
//!
//! Sans-IO: it never reads a clock. Packets go in with [`JitterBuffer::push`]
//! together with the time they arrived; the playback side calls
//! [`JitterBuffer::pop`] exactly once per frame the sound device consumes and
//! gets back a [`Decision`] saying what to feed the decoder. The buffer never
//! decodes anything itself, so its rules are tested with a virtual clock over
//! a seeded simulated network, and [`crate::playout::Playout`] couples it to
//! the real Opus decoder.
//!
//! # How it adapts
//! The device clock paces playback; the sender's clock paces arrivals. The
//! buffer measures its *level* at every pop: how many frames, from the one
//! about to play up to the newest one received, are in hand. It controls that
//! level with two moves:
//!
//! * **Expand**: when nothing at all is in hand (the packet is late, or the
//!   sender's clock is slower than ours), it asks for one concealed frame
//!   *without* advancing, so playback waits 20 ms for the network. After
//!   [`JitterConfig::max_wait`] such frames in a row the missing frame is
//!   given up for lost and playback moves on.
//! * **Shrink**: when the lowest level seen over the last
//!   [`JitterConfig::window`] pops has stayed above what is needed, one frame
//!   is dropped. The decoder side chooses a quiet frame when it can.
//!
//! "What is needed" is one frame, plus one more while the network is losing
//! packets: then the next packet, which carries a redundant copy and the Opus
//! in-band FEC of the missing frame, must be in hand when the gap plays. The
//! minimum over a window is a running worst case of the arrival jitter, so
//! the target delay follows measured jitter without any explicit histogram,
//! and the same two moves absorb drift between the two sound clocks.
//!
//! # Recovery order for a missing frame
//! its own packet → a redundant copy carried by a later packet → the in-band
//! FEC of the next frame → decoder concealment.

use std::time::Duration;

/// Largest encoded frame the buffer stores (Opus never exceeds 1275 bytes
/// per frame; our constant-rate profiles stay far below this).
pub const MAX_FRAME_BYTES: usize = 512;

/// Pops in the short window that detects a large excess of delay.
const FAST_WINDOW: u32 = 10;
/// Frames above the needed level that count as a large excess.
const FAST_EXCESS: u32 = 2;

/// Tuning of the buffer.
#[derive(Debug, Clone)]
pub struct JitterConfig {
    /// Duration of one frame.
    pub frame: Duration,
    /// Number of frame slots held; packets further ahead than this resync the
    /// buffer.
    pub capacity: u32,
    /// Pops over which the minimum level is tracked before shrinking.
    pub window: u32,
    /// Consecutive expansions before a missing frame is declared lost.
    pub max_wait: u32,
    /// Pops of wanting to shrink after which a loud frame is dropped anyway.
    pub force_shrink_after: u32,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            frame: Duration::from_millis(20),
            capacity: 256,
            window: 100,
            max_wait: 3,
            force_shrink_after: 50,
        }
    }
}

/// What the decoder should do for the next 20 ms of playback.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Nothing has ever arrived: play silence.
    Silence,
    /// Decode these bytes (the frame's own packet or a redundant copy).
    Decode(&'a [u8]),
    /// The frame is lost but the next frame is here: decode its in-band FEC.
    DecodeFec(&'a [u8]),
    /// Conceal a missing frame.
    Conceal,
}

/// Counters kept by the buffer (since the call started).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct JitterStats {
    /// Packets pushed (duplicates included).
    pub packets: u64,
    /// Primary frames that were already in hand (duplicate datagrams).
    pub duplicates: u64,
    /// Primary frames that arrived after their turn to play had passed.
    pub late: u64,
    /// Frames played from their own packet.
    pub played: u64,
    /// Frames played from a redundant copy in a later packet.
    pub recovered_redundant: u64,
    /// Frames rebuilt from the next frame's in-band FEC.
    pub recovered_fec: u64,
    /// Frames concealed after being given up for lost.
    pub concealed: u64,
    /// Concealed frames inserted to wait for the network (expansions).
    pub expanded: u64,
    /// Frames dropped to reduce delay.
    pub shrunk: u64,
    /// Times the buffer restarted because the sender jumped far ahead.
    pub resyncs: u64,
}

#[derive(Clone)]
struct Slot {
    index: u32,
    filled: bool,
    /// True if the bytes came from the frame's own packet.
    primary: bool,
    len: usize,
    data: [u8; MAX_FRAME_BYTES],
}

impl Slot {
    const EMPTY: Slot = Slot {
        index: 0,
        filled: false,
        primary: false,
        len: 0,
        data: [0; MAX_FRAME_BYTES],
    };
}

/// The adaptive jitter buffer. See the module documentation.
pub struct JitterBuffer {
    cfg: JitterConfig,
    slots: Vec<Slot>,
    /// Index of the frame that plays next; `None` until the first packet.
    next_play: Option<u32>,
    /// Highest frame index received so far.
    highest: Option<u32>,
    /// Consecutive expansions for the current `next_play`.
    waited: u32,
    /// Lowest level seen in the current window, and pops in it.
    window_min: u32,
    window_pops: u32,
    /// Pops since a shrink was first wanted.
    shrink_wanted_for: Option<u32>,
    /// Lowest level over the current short window, and pops in it.
    fast_min: u32,
    fast_pops: u32,
    /// Recent share of frames that needed recovery (exponential average).
    loss_avg: f64,
    /// RFC 3550 inter-arrival jitter estimate in seconds.
    jitter: f64,
    last_transit: Option<f64>,
    last_level: u32,
    stats: JitterStats,
}

impl std::fmt::Debug for JitterBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitterBuffer")
            .field("next_play", &self.next_play)
            .field("highest", &self.highest)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(cfg: JitterConfig) -> Self {
        let capacity = cfg.capacity.max(8);
        Self {
            slots: vec![Slot::EMPTY; capacity as usize],
            cfg: JitterConfig { capacity, ..cfg },
            next_play: None,
            highest: None,
            waited: 0,
            window_min: u32::MAX,
            window_pops: 0,
            shrink_wanted_for: None,
            fast_min: u32::MAX,
            fast_pops: 0,
            loss_avg: 0.0,
            jitter: 0.0,
            last_transit: None,
            last_level: 0,
            stats: JitterStats::default(),
        }
    }

    /// Stores the frames of one packet that arrived at `now`.
    ///
    /// `frames[0]` is frame `index`, `frames[1]` frame `index - 1` (a
    /// redundant copy), and so on. Frames longer than [`MAX_FRAME_BYTES`] are
    /// ignored. Never panics, whatever the input.
    pub fn push(&mut self, now: Duration, index: u32, frames: &[&[u8]]) {
        self.stats.packets += 1;
        let frame_s = self.cfg.frame.as_secs_f64();
        // RFC 3550 §6.4.1 jitter, from the transit time of the primary frame.
        let transit = now.as_secs_f64() - f64::from(index) * frame_s;
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            // A resync jump is not jitter.
            if d < 1.0 {
                self.jitter += (d - self.jitter) / 16.0;
            }
        }
        self.last_transit = Some(transit);

        let next = match self.next_play {
            None => {
                self.next_play = Some(index);
                index
            }
            Some(n) => n,
        };
        if index.wrapping_sub(next) >= self.cfg.capacity && index > next {
            // The sender jumped further ahead than the buffer can hold: start
            // over from this packet rather than play a long gap.
            self.stats.resyncs += 1;
            for s in &mut self.slots {
                s.filled = false;
            }
            self.next_play = Some(index);
            self.highest = None;
            self.waited = 0;
        }
        let next = self.next_play.unwrap_or(index);
        if index < next {
            self.stats.late += 1;
        }
        if self.highest.is_none_or(|h| index > h) {
            self.highest = Some(index);
        }
        for (back, bytes) in frames.iter().enumerate() {
            let Some(i) = index.checked_sub(back as u32) else {
                break;
            };
            if i < next || bytes.is_empty() || bytes.len() > MAX_FRAME_BYTES {
                continue;
            }
            let cap = self.cfg.capacity;
            let slot = &mut self.slots[(i % cap) as usize];
            let primary = back == 0;
            if slot.filled && slot.index == i {
                if primary && slot.primary {
                    self.stats.duplicates += 1;
                }
                if !primary || slot.primary {
                    continue;
                }
            }
            slot.index = i;
            slot.filled = true;
            slot.primary = primary;
            slot.len = bytes.len();
            slot.data[..bytes.len()].copy_from_slice(bytes);
        }
    }

    fn slot(&self, index: u32) -> Option<&Slot> {
        let s = &self.slots[(index % self.cfg.capacity) as usize];
        (s.filled && s.index == index).then_some(s)
    }

    fn level(&self, next: u32) -> u32 {
        match self.highest {
            Some(h) if h >= next => h - next + 1,
            _ => 0,
        }
    }

    /// Level the buffer must keep at least: one frame, two under loss.
    fn needed(&self) -> u32 {
        if self.loss_avg > 0.005 { 2 } else { 1 }
    }

    /// Decides what plays for the next frame interval.
    ///
    /// Call once per frame of playback. `now` is only used for accounting.
    pub fn pop(&mut self, _now: Duration) -> Decision<'_> {
        let Some(next) = self.next_play else {
            return Decision::Silence;
        };
        let level = self.level(next);
        self.last_level = level;
        self.window_min = self.window_min.min(level);
        self.window_pops += 1;
        if self.window_pops >= self.cfg.window {
            if self.window_min > self.needed() && self.shrink_wanted_for.is_none() {
                self.shrink_wanted_for = Some(0);
            }
            self.window_min = u32::MAX;
            self.window_pops = 0;
        }
        // Far above what is needed (a start-up backlog, or a burst after a
        // network stall): the slow window would take minutes to drain that
        // much delay, so a short window asks for a shrink at once and lets
        // it be forced soon after.
        self.fast_min = self.fast_min.min(level);
        self.fast_pops += 1;
        if self.fast_pops >= FAST_WINDOW {
            if self.fast_min > self.needed() + FAST_EXCESS && self.shrink_wanted_for.is_none() {
                self.shrink_wanted_for =
                    Some(self.cfg.force_shrink_after.saturating_sub(FAST_WINDOW));
            }
            self.fast_min = u32::MAX;
            self.fast_pops = 0;
        }
        if let Some(w) = &mut self.shrink_wanted_for {
            *w += 1;
        }

        let own = self.slot(next).map(|s| s.primary);
        if own.is_none() && level == 0 && self.waited < self.cfg.max_wait {
            // Nothing in hand: wait for the network instead of skipping.
            self.waited += 1;
            self.stats.expanded += 1;
            // Waiting already raised the delay; a pending shrink would undo it.
            self.shrink_wanted_for = None;
            return Decision::Conceal;
        }
        self.waited = 0;
        self.next_play = Some(next.wrapping_add(1));
        let recovered = !matches!(own, Some(true));
        self.loss_avg += (f64::from(u8::from(recovered)) - self.loss_avg) / 50.0;
        let cap = self.cfg.capacity;
        if let Some(primary) = own {
            if primary {
                self.stats.played += 1;
            } else {
                self.stats.recovered_redundant += 1;
            }
            let s = &mut self.slots[(next % cap) as usize];
            s.filled = false;
            return Decision::Decode(&s.data[..s.len]);
        }
        let after = next.wrapping_add(1);
        if self.slot(after).is_some() {
            self.stats.recovered_fec += 1;
            let s = &self.slots[(after % cap) as usize];
            return Decision::DecodeFec(&s.data[..s.len]);
        }
        self.stats.concealed += 1;
        Decision::Conceal
    }

    /// True when the buffer holds more delay than needed and would like the
    /// decoder side to drop a frame (see [`JitterBuffer::shrink`]).
    pub fn wants_shrink(&self) -> bool {
        self.shrink_wanted_for.is_some()
    }

    /// True when a shrink has been wanted long enough that any frame, even
    /// a loud one, should be dropped.
    pub fn must_shrink(&self) -> bool {
        self.shrink_wanted_for
            .is_some_and(|w| w >= self.cfg.force_shrink_after)
    }

    /// Records that the decoder side dropped the frame it just decoded.
    pub fn shrink(&mut self) {
        if self.shrink_wanted_for.take().is_some() {
            self.stats.shrunk += 1;
        }
    }

    /// Counters since the start.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Frames in hand at the last pop, as a delay.
    pub fn delay(&self) -> Duration {
        self.cfg.frame * self.last_level
    }

    /// RFC 3550 inter-arrival jitter estimate.
    pub fn jitter(&self) -> Duration {
        Duration::from_secs_f64(self.jitter)
    }

    /// Recent share of frames that were not played from their own packet,
    /// `0.0..=1.0`; the receiver reports it so the sender can tune FEC.
    pub fn recent_loss(&self) -> f64 {
        self.loss_avg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Duration = Duration::from_millis(20);

    fn frame(i: u32) -> [u8; 4] {
        i.to_be_bytes()
    }

    fn push(jb: &mut JitterBuffer, now: Duration, i: u32) {
        let cur = frame(i);
        let prev = frame(i.wrapping_sub(1));
        if i == 0 {
            jb.push(now, i, &[&cur]);
        } else {
            jb.push(now, i, &[&cur, &prev]);
        }
    }

    #[test]
    fn in_order_stream_plays_every_frame_with_one_frame_of_delay() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        assert_eq!(jb.pop(Duration::ZERO), Decision::Silence);
        for i in 0..200u32 {
            let t = F * i;
            push(&mut jb, t, i);
            let d = jb.pop(t + Duration::from_millis(5));
            assert_eq!(d, Decision::Decode(&frame(i)), "frame {i}");
        }
        assert_eq!(jb.stats().played, 200);
        assert_eq!(jb.delay(), F);
        assert!(!jb.wants_shrink());
    }

    #[test]
    fn a_lost_packet_is_recovered_from_the_next_packets_copy() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        // Two frames of delay: push i, pop i-1.
        push(&mut jb, Duration::ZERO, 0);
        for i in 1..50u32 {
            if i != 20 {
                push(&mut jb, F * i, i);
            }
            let d = jb.pop(F * i);
            assert_eq!(d, Decision::Decode(&frame(i - 1)), "frame {}", i - 1);
        }
        assert_eq!(jb.stats().recovered_redundant, 1);
        assert_eq!(jb.stats().concealed, 0);
    }

    #[test]
    fn fec_from_next_frame() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        jb.push(Duration::ZERO, 0, &[b"a"]);
        jb.push(F, 2, &[b"c"]);
        jb.push(F, 3, &[b"d"]);
        assert_eq!(jb.pop(F), Decision::Decode(b"a"));
        // Frame 1 is missing; frame 2 holds its in-band FEC.
        assert_eq!(jb.pop(F * 2), Decision::DecodeFec(b"c"));
        assert_eq!(jb.pop(F * 3), Decision::Decode(b"c"));
        assert_eq!(jb.stats().recovered_fec, 1);
    }

    #[test]
    fn empty_buffer_waits_then_gives_up() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        jb.push(Duration::ZERO, 0, &[b"a"]);
        assert_eq!(jb.pop(Duration::ZERO), Decision::Decode(b"a"));
        for k in 0..3 {
            assert_eq!(jb.pop(F * (k + 1)), Decision::Conceal);
        }
        assert_eq!(jb.stats().expanded, 3);
        // Fourth empty pop gives frame 1 up for lost.
        assert_eq!(jb.pop(F * 4), Decision::Conceal);
        assert_eq!(jb.stats().concealed, 1);
        // Frame 1 arriving now is late and never played.
        jb.push(F * 5, 1, &[b"b"]);
        assert_eq!(jb.stats().late, 1);
        jb.push(F * 5, 2, &[b"c", b"b"]);
        assert_eq!(jb.pop(F * 5), Decision::Decode(b"c"));
    }

    #[test]
    fn duplicates_and_junk_are_harmless() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        jb.push(Duration::ZERO, 5, &[b"x"]);
        jb.push(Duration::ZERO, 5, &[b"x"]);
        jb.push(Duration::ZERO, 6, &[&[0u8; MAX_FRAME_BYTES + 1], b"x"]);
        jb.push(Duration::ZERO, 0, &[b"old", b"older"]);
        jb.push(Duration::ZERO, u32::MAX, &[b"far"]);
        assert_eq!(jb.stats().duplicates, 1);
        assert_eq!(jb.stats().resyncs, 1);
        assert_eq!(jb.pop(Duration::ZERO), Decision::Decode(b"far"));
    }
}
