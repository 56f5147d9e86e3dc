//! The call session: the sans-IO state machine of an established call.
//!
//! A [`CallSession`] is built from a finished handshake
//! ([`crate::handshake::Established`]) and then owns everything about the
//! media channel except the socket: packet numbers, the replay window, key
//! epochs, control messages, round-trip and loss accounting, and the
//! silence timeout. It never reads a clock; every method that depends on
//! time takes `now`.
//!
//! # Driving it
//!
//! ```text
//! loop {
//!     every frame interval:   n = session.send_media(now, &payload, &mut buf)?;  send buf[..n]
//!     on a datagram:          match session.handle_datagram(now, &mut buf[..len]) {
//!                                 Ok(Incoming::Media(m)) => jitter buffer <- m.frames()
//!                                 Ok(Incoming::Control(_)) => {}   // already handled
//!                                 Err(_) => count it, drop it      // never show details
//!                             }
//!     when poll_timeout() is reached:  session.handle_timeout(now)
//!     after *every* call above:
//!         while let Some(n) = session.poll_transmit(now, &mut buf) { send buf[..n] }
//!         while let Some(ev) = session.poll_event() { ... }
//!         next wake-up = session.poll_timeout()   // None: the session is closed
//! }
//! ```
//!
//! # Key epochs
//!
//! Each direction has its own chain of keys (see the `schedule` module).
//! The sender moves its direction to the next epoch after
//! [`SessionConfig::rekey_after_packets`] packets or
//! [`SessionConfig::rekey_after_time`], whichever comes first, erases the
//! old chain secret and announces it with a [`ControlMessage::Rekey`].
//! The receiver does not wait for the announcement: it keeps the keys of
//! the next epoch ready and moves as soon as a packet sealed under them
//! authenticates. It keeps the previous epoch's keys for
//! [`SessionConfig::rekey_grace`] so that packets that were in flight or
//! reordered across the switch are still accepted, then erases them.
//! Packet numbers keep counting across epochs, so one replay window covers
//! the whole call and no nonce ever repeats under a key.
//!
//! # The SAS reveal
//!
//! The caller knows the SAS as soon as the handshake ends; the callee only
//! once the caller's nonce arrives (see the `handshake` module for why).
//! The caller's session queues [`ControlMessage::SasReveal`] at once and
//! again every [`SessionConfig::sas_reveal_interval`] until a
//! [`ControlMessage::SasRevealAck`] arrives, so a lost packet only delays
//! the digits. The callee checks the nonce against the offer's commitment:
//! on a match it raises [`SessionEvent::SasReady`] (the caller raises it at
//! once), on a mismatch [`SessionEvent::SasMismatch`] and it hangs up.
//!
//! # Peer addresses
//!
//! The session never sees addresses. To move a call to a new address only
//! after that address answered, the engine seals a probe with
//! [`CallSession::seal_probe`], sends it there, and moves when the
//! [`ControlMessage::Pong`] with the probe's id arrives *from* that address.

mod receive;

use core::time::Duration;
use std::collections::VecDeque;

use zeroize::Zeroizing;

use crate::control::{ByeReason, ControlMessage, ReceiverReport};
use crate::handshake::{Established, MediaProfile, SAS_NONCE_LEN};
use crate::packet::{
    self, DirectionCipher, EncodeError, HEADER_LEN, HeaderProtection, MediaPayload, ReceivedMedia,
    TAG_LEN,
};
use crate::replay::{ReplayError, ReplayWindow};
use crate::schedule::{ChainSecret, Role, Sas};
use crate::time::Instant;

/// Timers and limits of a session. [`SessionConfig::default`] holds the
/// values of the design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// The call ends when no authenticated packet arrived for this long.
    pub idle_timeout: Duration,
    /// Interval between pings (round-trip measurement).
    pub ping_interval: Duration,
    /// Interval between receiver reports.
    pub report_interval: Duration,
    /// A sending direction moves to a new key epoch after this long...
    pub rekey_after_time: Duration,
    /// ...or after this many packets, whichever comes first.
    pub rekey_after_packets: u64,
    /// How long the previous receive epoch stays usable after the peer
    /// moved on.
    pub rekey_grace: Duration,
    /// How many copies of `Bye` are sent on hang-up (UDP may drop some).
    pub bye_copies: u8,
    /// The caller repeats its SAS reveal this often until the callee
    /// acknowledges it.
    pub sas_reveal_interval: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(1),
            report_interval: Duration::from_secs(5),
            rekey_after_time: Duration::from_secs(120),
            rekey_after_packets: 1 << 20,
            rekey_grace: Duration::from_secs(5),
            bye_copies: 3,
            sas_reveal_interval: Duration::from_millis(200),
        }
    }
}

/// One of the two directions of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Packets this side sends.
    Send,
    /// Packets this side receives.
    Receive,
}

/// Something the engine should know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    /// The first authenticated packet from the peer arrived: media flows
    /// both ways (a connectivity check succeeded).
    Connected,
    /// A direction moved to a new key epoch.
    Rekeyed {
        /// Which direction.
        direction: Direction,
        /// Its new epoch number.
        epoch: u32,
    },
    /// Round-trip time measured by a ping.
    RoundTrip(Duration),
    /// The peer ended the call.
    PeerHungUp {
        /// The reason it gave.
        reason: ByeReason,
    },
    /// No authenticated packet for [`SessionConfig::idle_timeout`]; the call
    /// is over.
    TimedOut,
    /// The SAS is known now: show it. The caller gets this at once, the
    /// callee when the caller's nonce arrived and matched the commitment.
    SasReady(Sas),
    /// The caller revealed a nonce that does not match the commitment in
    /// its offer: the peer tried to steer the SAS, so the session hung up.
    SasMismatch,
}

/// What an accepted datagram carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// Audio frames for the jitter buffer, borrowing the receive buffer.
    Media(ReceivedMedia<'a>),
    /// A control message. The session already acted on it; it is returned
    /// for logging and statistics.
    Control(ControlMessage),
}

/// Why a datagram was dropped. All of these are caused by the network or
/// the peer; the engine counts them and moves on. Never show the detail to
/// the peer, and do not distinguish them to the user beyond counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Wrong length, unknown type/version byte, or an authenticated payload
    /// that does not parse.
    #[error("malformed packet")]
    Malformed,
    /// A duplicate or a packet older than the replay window.
    #[error("replayed packet")]
    Replayed(ReplayError),
    /// The key epoch is neither the current, the next nor (during the grace
    /// period) the previous one.
    #[error("packet from an unknown key epoch")]
    UnknownEpoch,
    /// Authentication failed: forged, corrupted or not from this call.
    #[error("packet failed authentication")]
    Unauthenticated,
    /// The session is closed.
    #[error("session closed")]
    Closed,
}

/// Why a packet could not be sent. Caller mistakes or end of call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The media does not fit, or the buffer is too small.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The session is closing or closed.
    #[error("session closed")]
    Closed,
}

/// Counters of the session, for the in-call quality display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionStats {
    /// Packets sent (media and control).
    pub sent: u64,
    /// Authenticated packets received.
    pub received: u64,
    /// Packets missing below the highest received packet number.
    pub lost: u64,
    /// Duplicates and too-old packets refused.
    pub replayed: u64,
    /// Packets that failed authentication or came from an unknown epoch.
    pub unauthenticated: u64,
    /// Authenticated packets whose payload did not parse.
    pub malformed: u64,
    /// Interarrival jitter of received media (RFC 3550 estimator).
    pub jitter: Duration,
    /// Latest round-trip time.
    pub rtt: Option<Duration>,
    /// Current epoch of the sending direction.
    pub send_epoch: u32,
    /// Current epoch of the receiving direction.
    pub receive_epoch: u32,
    /// The peer's latest report about the packets we sent.
    pub peer_report: Option<ReceiverReport>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    /// Bye copies are queued; media is no longer accepted for sending.
    Closing,
    Closed,
}

/// Bound on queued control messages and events, so that a peer cannot
/// make the session grow (pings beyond it are simply not answered).
const QUEUE_CAPACITY: usize = 32;

/// Where this side stands with the SAS.
enum SasProgress {
    /// Caller: knows the SAS, repeats the reveal until it is acknowledged.
    Revealing {
        sas: Sas,
        nonce: Zeroizing<[u8; SAS_NONCE_LEN]>,
        next_send: Instant,
    },
    /// Caller after the acknowledgement.
    Revealed(Sas),
    /// Callee before the reveal: holds the SAS key and the commitment.
    AwaitingReveal {
        key: Zeroizing<[u8; 32]>,
        commitment: [u8; SAS_NONCE_LEN],
    },
    /// Callee after a matching reveal (repeats are acknowledged again).
    Verified {
        sas: Sas,
        commitment: [u8; SAS_NONCE_LEN],
    },
    /// Callee after a mismatching reveal: no SAS, the call is ending.
    Broken,
}

/// The sans-IO state of one established call. See the module docs for the
/// order in which to drive it.
pub struct CallSession {
    config: SessionConfig,
    role: Role,
    profile: MediaProfile,
    sas: SasProgress,
    packet_len: usize,
    state: State,

    send_header: HeaderProtection,
    recv_header: HeaderProtection,
    send_chain: ChainSecret,
    send: DirectionCipher,
    next_packet_number: u64,
    send_epoch_started: Instant,
    packets_in_send_epoch: u64,

    /// Chain secret of the *next* receive epoch; its keys are in `recv_next`.
    recv_chain_next: ChainSecret,
    recv: DirectionCipher,
    recv_next: DirectionCipher,
    recv_prev: Option<(DirectionCipher, Instant)>,
    replay: ReplayWindow,

    last_authenticated: Instant,
    connected: bool,
    next_ping: Instant,
    ping_id: u32,
    next_report: Instant,
    /// RFC 3550 jitter estimate in µs, scaled by 16 for integer maths.
    jitter_x16: u64,
    last_arrival: Option<(Instant, u32)>,

    control_queue: VecDeque<ControlMessage>,
    events: VecDeque<SessionEvent>,
    stats: SessionStats,
}

impl core::fmt::Debug for CallSession {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CallSession")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl CallSession {
    /// Starts the media phase of a call at `now`. The idle timer starts
    /// here, so a peer that never sends ends the call after
    /// [`SessionConfig::idle_timeout`].
    pub fn new(established: Established, config: SessionConfig, now: Instant) -> Self {
        let parts = established.into_parts();
        let (role, profile, secrets) = (parts.role, parts.profile, parts.secrets);
        let sas = match parts.sas_nonce {
            Some(nonce) => SasProgress::Revealing {
                sas: Sas::derive(&secrets.sas_key, &nonce),
                nonce,
                next_send: now,
            },
            None => SasProgress::AwaitingReveal {
                key: secrets.sas_key.clone(),
                commitment: parts.sas_commitment,
            },
        };
        let send_header = HeaderProtection::new(&secrets.send_header_key);
        let recv_header = HeaderProtection::new(&secrets.recv_header_key);
        let send = DirectionCipher::new(&secrets.send.keys(), 0);
        let recv = DirectionCipher::new(&secrets.recv.keys(), 0);
        let recv_chain_next = secrets.recv.next();
        let recv_next = DirectionCipher::new(&recv_chain_next.keys(), 1);
        // The epoch-0 receive chain secret is dropped (and erased) here:
        // only its keys and its successor are needed.
        let send_chain = secrets.send;
        let mut session = Self {
            config,
            role,
            profile,
            sas,
            packet_len: usize::from(profile.packet_len),
            state: State::Active,
            send_header,
            recv_header,
            send_chain,
            send,
            next_packet_number: 0,
            send_epoch_started: now,
            packets_in_send_epoch: 0,
            recv_chain_next,
            recv,
            recv_next,
            recv_prev: None,
            replay: ReplayWindow::new(),
            last_authenticated: now,
            connected: false,
            next_ping: now,
            ping_id: 0,
            next_report: now + config.report_interval,
            jitter_x16: 0,
            last_arrival: None,
            control_queue: VecDeque::with_capacity(QUEUE_CAPACITY),
            events: VecDeque::with_capacity(QUEUE_CAPACITY),
            stats: SessionStats::default(),
        };
        if let SasProgress::Revealing { sas, .. } = session.sas {
            session.push_event(SessionEvent::SasReady(sas));
            // The reveal goes out with the first control packets.
            session.handle_sas_timer(now);
        }
        session
    }

    /// Length of every packet of this call; size send and receive buffers
    /// at least this large.
    pub fn packet_len(&self) -> usize {
        self.packet_len
    }

    /// Largest total of frame bytes a media packet can carry with `frames`
    /// frames (the encoder's byte budget).
    pub fn frame_capacity(&self, frames: usize) -> usize {
        packet::frame_capacity(self.packet_len, frames)
    }

    /// The agreed media profile.
    pub fn profile(&self) -> &MediaProfile {
        &self.profile
    }

    /// Whether this side called or answered.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The short authentication string to show, once it is known: at once
    /// on the caller, after the caller's reveal on the callee (see
    /// [`SessionEvent::SasReady`]).
    pub fn sas(&self) -> Option<Sas> {
        match &self.sas {
            SasProgress::Revealing { sas, .. }
            | SasProgress::Revealed(sas)
            | SasProgress::Verified { sas, .. } => Some(*sas),
            SasProgress::AwaitingReveal { .. } | SasProgress::Broken => None,
        }
    }

    /// Counters for the quality display.
    pub fn stats(&self) -> SessionStats {
        let mut s = self.stats;
        s.jitter = Duration::from_micros(self.jitter_x16 / 16);
        s.send_epoch = self.send.epoch;
        s.receive_epoch = self.recv.epoch;
        s
    }

    /// Whether the call is over (hung up, peer hung up, or timed out).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Seals one media packet into `out` and returns its length (always
    /// [`CallSession::packet_len`]). Call it every frame interval, whether
    /// or not anyone speaks.
    pub fn send_media(
        &mut self,
        now: Instant,
        media: &MediaPayload<'_>,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        if self.state != State::Active {
            return Err(SendError::Closed);
        }
        let packet = out
            .get_mut(..self.packet_len)
            .ok_or(EncodeError::BufferTooSmall)?;
        media.encode(&mut packet[HEADER_LEN..self.packet_len - TAG_LEN])?;
        self.seal(now, packet);
        Ok(self.packet_len)
    }

    /// Seals `packet` (payload already in place) with the next packet
    /// number, moving to a new epoch first if one is due.
    fn seal(&mut self, now: Instant, packet: &mut [u8]) {
        if self.packets_in_send_epoch >= self.config.rekey_after_packets
            || now >= self.send_epoch_started + self.config.rekey_after_time
        {
            self.rekey_send(now);
        }
        let pn = self.next_packet_number;
        self.send.seal_in_place(pn, packet);
        self.send_header.protect(packet);
        // 2^64 packets at 50 per second take 10^10 years; saturating keeps
        // the arithmetic total without a reachable failure path.
        self.next_packet_number = pn.saturating_add(1);
        self.packets_in_send_epoch += 1;
        self.stats.sent += 1;
    }

    /// Moves the sending direction to the next key epoch now and queues the
    /// announcement. Normally the session does this by itself.
    pub fn rekey_send(&mut self, now: Instant) {
        // C[n+1] = HKDF-Expand(C[n], "next epoch"); the assignment drops
        // (and so erases) C[n] and the old cipher.
        self.send_chain = self.send_chain.next();
        self.send = DirectionCipher::new(&self.send_chain.keys(), self.send_chain.epoch());
        self.send_epoch_started = now;
        self.packets_in_send_epoch = 0;
        let epoch = self.send_chain.epoch();
        self.queue_control(ControlMessage::Rekey { epoch });
        self.push_event(SessionEvent::Rekeyed {
            direction: Direction::Send,
            epoch,
        });
    }

    /// Caller: queues the reveal when it is due.
    fn handle_sas_timer(&mut self, now: Instant) {
        if let SasProgress::Revealing {
            nonce, next_send, ..
        } = &mut self.sas
            && now >= *next_send
        {
            *next_send = now + self.config.sas_reveal_interval;
            let msg = ControlMessage::SasReveal { nonce: **nonce };
            self.queue_control(msg);
        }
    }

    /// Advances timers: pings, receiver reports, time-based rekeying, the
    /// end of the previous epoch's grace period and the silence timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if now >= self.last_authenticated + self.config.idle_timeout {
            self.state = State::Closed;
            self.control_queue.clear();
            self.push_event(SessionEvent::TimedOut);
            return;
        }
        if let Some((_, expires)) = &self.recv_prev
            && now >= *expires
        {
            self.recv_prev = None;
        }
        if self.state != State::Active {
            return;
        }
        if now >= self.next_ping {
            self.queue_ping(now);
            self.next_ping = now + self.config.ping_interval;
        }
        if now >= self.next_report {
            self.queue_control(ControlMessage::ReceiverReport(self.report()));
            self.next_report = now + self.config.report_interval;
        }
        if now >= self.send_epoch_started + self.config.rekey_after_time {
            self.rekey_send(now);
        }
        self.handle_sas_timer(now);
    }

    /// Queues a ping now (round-trip measurement; it goes out with the
    /// next [`CallSession::poll_transmit`]).
    pub fn queue_ping(&mut self, now: Instant) {
        self.ping_id = self.ping_id.wrapping_add(1);
        self.queue_control(ControlMessage::Ping {
            id: self.ping_id,
            sent_at: now.as_micros(),
        });
    }

    /// Seals a ping into `out` at once, bypassing the control queue, and
    /// returns its id and length: a probe for a new peer address. The peer
    /// answers with a [`ControlMessage::Pong`] carrying the same id, sent
    /// from wherever it really is; only a pong with this id that arrives
    /// *from the probed address* shows that the peer can be reached there.
    /// `None` when the session is not active or `out` is too short.
    pub fn seal_probe(&mut self, now: Instant, out: &mut [u8]) -> Option<(u32, usize)> {
        if self.state != State::Active {
            return None;
        }
        let packet = out.get_mut(..self.packet_len)?;
        self.ping_id = self.ping_id.wrapping_add(1);
        let msg = ControlMessage::Ping {
            id: self.ping_id,
            sent_at: now.as_micros(),
        };
        // MIN_PACKET_LEN leaves room for every control message.
        msg.encode(&mut packet[HEADER_LEN..self.packet_len - TAG_LEN])
            .ok()?;
        self.seal(now, packet);
        Some((self.ping_id, self.packet_len))
    }

    fn report(&self) -> ReceiverReport {
        ReceiverReport {
            received: self.stats.received,
            lost: self.stats.lost,
            duplicates: self.stats.replayed,
            highest_packet_number: self.replay.highest().unwrap_or(0),
            jitter_micros: u32::try_from(self.jitter_x16 / 16).unwrap_or(u32::MAX),
        }
    }

    /// Ends the call from this side: queues [`SessionConfig::bye_copies`]
    /// `Bye` messages; the session closes once they were taken with
    /// [`CallSession::poll_transmit`].
    pub fn hang_up(&mut self, reason: ByeReason) {
        if self.state != State::Active {
            return;
        }
        self.control_queue.clear();
        for _ in 0..self.config.bye_copies.max(1) {
            self.control_queue.push_back(ControlMessage::Bye { reason });
        }
        self.state = State::Closing;
    }

    /// Seals the next queued control packet into `out` and returns its
    /// length, or `None` when nothing is queued (or `out` is shorter than
    /// [`CallSession::packet_len`], in which case the message stays queued).
    pub fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        if self.state == State::Closed {
            return None;
        }
        let packet = out.get_mut(..self.packet_len)?;
        let msg = self.control_queue.pop_front()?;
        let payload_end = self.packet_len - TAG_LEN;
        if msg.encode(&mut packet[HEADER_LEN..payload_end]).is_err() {
            // MIN_PACKET_LEN leaves room for the longest control message,
            // so this cannot happen; drop the message rather than panic.
            return None;
        }
        self.seal(now, packet);
        if self.state == State::Closing && self.control_queue.is_empty() {
            self.state = State::Closed;
        }
        Some(self.packet_len)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// When [`CallSession::handle_timeout`] must be called next; `None`
    /// once the session is closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            State::Closing => Some(self.last_authenticated + self.config.idle_timeout),
            State::Active => {
                let mut t = (self.last_authenticated + self.config.idle_timeout)
                    .min(self.next_ping)
                    .min(self.next_report)
                    .min(self.send_epoch_started + self.config.rekey_after_time);
                if let Some((_, expires)) = &self.recv_prev {
                    t = t.min(*expires);
                }
                if let SasProgress::Revealing { next_send, .. } = &self.sas {
                    t = t.min(*next_send);
                }
                Some(t)
            }
        }
    }

    fn queue_control(&mut self, msg: ControlMessage) {
        if self.control_queue.len() < QUEUE_CAPACITY {
            self.control_queue.push_back(msg);
        }
    }

    fn push_event(&mut self, ev: SessionEvent) {
        if self.events.len() == QUEUE_CAPACITY {
            // The engine is not draining events; keep the newest ones.
            self.events.pop_front();
        }
        self.events.push_back(ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{ExpectAnswer, HandshakeCallId, OfferParams, OfferPolicy};
    use crate::identity::IdentityKeyPair;
    use crate::time::UnixTime;

    fn pair(now: Instant) -> (CallSession, CallSession) {
        let t = UnixTime::from_secs(1_800_000_000);
        let a = IdentityKeyPair::from_seed(&[1; 32]);
        let b = IdentityKeyPair::from_seed(&[2; 32]);
        let params = OfferParams {
            call_id: HandshakeCallId([3; 16]),
            caller: "alice".into(),
            callee: "bob".into(),
            candidates: vec![],
            profile: MediaProfile::DEFAULT,
        };
        let (waiting, offer) =
            ExpectAnswer::start(&a, params, b.public().clone(), [4; 32], [5; 32], t)
                .expect("start");
        let verified = offer
            .verify(a.public(), "bob", t, &OfferPolicy::default())
            .expect("verify");
        let (answer, callee) = verified.accept(&b, vec![], [6; 32], t).expect("accept");
        let caller = waiting
            .handle_answer(&answer, t, &OfferPolicy::default())
            .expect("answer");
        (
            CallSession::new(caller, SessionConfig::default(), now),
            CallSession::new(callee, SessionConfig::default(), now),
        )
    }

    fn deliver(from: &mut CallSession, to: &mut CallSession, now: Instant) {
        let mut buf = vec![0u8; from.packet_len()];
        while let Some(n) = from.poll_transmit(now, &mut buf) {
            let _ = to.handle_datagram(now, &mut buf[..n]);
        }
    }

    #[test]
    fn a_reveal_that_does_not_match_the_commitment_ends_the_call() {
        let t = Instant::from_micros(0);
        let (mut a, mut b) = pair(t);
        // A caller that tries to change its nonce after the answer: the
        // genuine reveal is replaced by another one, still sealed under the
        // call's keys.
        a.control_queue.clear();
        a.queue_control(ControlMessage::SasReveal { nonce: [0xEE; 32] });
        deliver(&mut a, &mut b, t);
        assert_eq!(b.sas(), None);
        let events: Vec<_> = core::iter::from_fn(|| b.poll_event()).collect();
        assert!(events.contains(&SessionEvent::SasMismatch), "{events:?}");
        // The callee says goodbye and the caller hears it.
        deliver(&mut b, &mut a, t);
        assert!(b.is_closed());
        let events: Vec<_> = core::iter::from_fn(|| a.poll_event()).collect();
        assert!(events.contains(&SessionEvent::PeerHungUp {
            reason: ByeReason::Error
        }));
    }

    #[test]
    fn a_second_different_reveal_after_a_good_one_also_ends_the_call() {
        let t = Instant::from_micros(0);
        let (mut a, mut b) = pair(t);
        deliver(&mut a, &mut b, t);
        let sas = a.sas();
        assert!(sas.is_some());
        assert_eq!(b.sas(), sas);
        a.queue_control(ControlMessage::SasReveal { nonce: [0xEE; 32] });
        deliver(&mut a, &mut b, t);
        let events: Vec<_> = core::iter::from_fn(|| b.poll_event()).collect();
        assert!(events.contains(&SessionEvent::SasMismatch), "{events:?}");
        assert_eq!(b.sas(), None);
    }
}
