//! The receiving half of a [`CallSession`]: opening a datagram under the
//! right key epoch, moving to the next epoch once a packet proves it, and
//! acting on the control messages the peer sends.

use core::time::Duration;

use super::{CallSession, Direction, Incoming, PacketError, SasProgress, SessionEvent, State};
use crate::control::{ByeReason, ControlMessage};
use crate::handshake::{SAS_NONCE_LEN, sas_commitment};
use crate::packet::{
    CONTENT_CONTROL, CONTENT_MEDIA, DirectionCipher, HEADER_LEN, ReceivedMedia, TAG_LEN,
};
use crate::schedule::Sas;
use crate::time::Instant;

impl CallSession {
    /// Authenticates and decrypts one datagram in place. On success the
    /// returned media borrows `datagram`. Control messages are acted on
    /// here (a ping queues a pong, a bye closes the session).
    pub fn handle_datagram<'a>(
        &mut self,
        now: Instant,
        datagram: &'a mut [u8],
    ) -> Result<Incoming<'a>, PacketError> {
        if self.state == State::Closed {
            return Err(PacketError::Closed);
        }
        if datagram.len() != self.packet_len {
            return Err(PacketError::Malformed);
        }
        // Removing the header protection costs one AES block; it needs no
        // epoch, so it comes before everything else.
        let header = self
            .recv_header
            .unprotect(datagram)
            .ok_or(PacketError::Malformed)?;
        let pn = header.packet_number;
        // Cheap refusal of duplicates before any cryptography.
        if let Err(e) = self.replay.check(pn) {
            self.stats.replayed += 1;
            return Err(PacketError::Replayed(e));
        }
        let which = self.select_receive_cipher(now, header.epoch);
        let cipher = match which {
            Some(EpochChoice::Current) => &self.recv,
            Some(EpochChoice::Next) => &self.recv_next,
            Some(EpochChoice::Previous) if self.recv_prev.is_some() => match &self.recv_prev {
                Some((c, _)) => c,
                None => return Err(PacketError::UnknownEpoch),
            },
            _ => {
                self.stats.unauthenticated += 1;
                return Err(PacketError::UnknownEpoch);
            }
        };
        if cipher.open_in_place(&header, datagram).is_err() {
            self.stats.unauthenticated += 1;
            return Err(PacketError::Unauthenticated);
        }
        // From here the packet is genuine.
        if which == Some(EpochChoice::Next) {
            self.advance_receive_epoch(now);
        }
        self.replay.update(pn);
        self.last_authenticated = now;
        self.stats.received += 1;
        let highest = self.replay.highest().unwrap_or(0);
        self.stats.lost = (highest + 1).saturating_sub(self.stats.received);
        if !self.connected {
            self.connected = true;
            self.push_event(SessionEvent::Connected);
        }

        let datagram: &'a [u8] = datagram;
        let payload = &datagram[HEADER_LEN..datagram.len() - TAG_LEN];
        match payload.first() {
            Some(&CONTENT_MEDIA) => match ReceivedMedia::decode(pn, payload) {
                Some(media) => {
                    self.update_jitter(now, media.timestamp);
                    Ok(Incoming::Media(media))
                }
                None => {
                    self.stats.malformed += 1;
                    Err(PacketError::Malformed)
                }
            },
            Some(&CONTENT_CONTROL) => match ControlMessage::decode(payload) {
                Ok(msg) => {
                    self.on_control(now, msg);
                    Ok(Incoming::Control(msg))
                }
                Err(_) => {
                    self.stats.malformed += 1;
                    Err(PacketError::Malformed)
                }
            },
            _ => {
                self.stats.malformed += 1;
                Err(PacketError::Malformed)
            }
        }
    }

    fn select_receive_cipher(&self, now: Instant, epoch_byte: u8) -> Option<EpochChoice> {
        // The header carries the low 8 bits of the epoch counter.
        if epoch_byte == self.recv.epoch as u8 {
            return Some(EpochChoice::Current);
        }
        if epoch_byte == self.recv_next.epoch as u8 {
            return Some(EpochChoice::Next);
        }
        match &self.recv_prev {
            Some((c, expires)) if epoch_byte == c.epoch as u8 && now < *expires => {
                Some(EpochChoice::Previous)
            }
            _ => None,
        }
    }

    fn advance_receive_epoch(&mut self, now: Instant) {
        let following = self.recv_chain_next.next();
        let following_cipher = DirectionCipher::new(&following.keys(), following.epoch());
        let new_current = core::mem::replace(&mut self.recv_next, following_cipher);
        let old = core::mem::replace(&mut self.recv, new_current);
        // Keep the old epoch's keys only for the grace period.
        self.recv_prev = Some((old, now + self.config.rekey_grace));
        // Replacing drops (and erases) the chain secret of the new current
        // epoch; only its successor is kept.
        self.recv_chain_next = following;
        self.push_event(SessionEvent::Rekeyed {
            direction: Direction::Receive,
            epoch: self.recv.epoch,
        });
    }

    fn update_jitter(&mut self, now: Instant, timestamp: u32) {
        // RFC 3550 6.4.1: D = (R_j - R_i) - (S_j - S_i); J += (|D| - J) / 16.
        if let Some((prev_at, prev_ts)) = self.last_arrival {
            let arrival_delta = now.as_micros() as i64 - prev_at.as_micros() as i64;
            // 48 kHz ticks to µs: × 1e6 / 48000 = × 125 / 6.
            let ts_delta = i64::from(timestamp.wrapping_sub(prev_ts) as i32) * 125 / 6;
            let d = (arrival_delta - ts_delta).unsigned_abs();
            // J16 += |D| - J16/16, i.e. J += (|D| - J)/16 with J = J16/16.
            self.jitter_x16 = self.jitter_x16 - self.jitter_x16 / 16 + d;
        }
        self.last_arrival = Some((now, timestamp));
    }

    fn on_control(&mut self, now: Instant, msg: ControlMessage) {
        match msg {
            ControlMessage::Ping { id, sent_at } => {
                self.queue_control(ControlMessage::Pong { id, sent_at });
            }
            ControlMessage::Pong { sent_at, .. } => {
                // sent_at is our own clock echoed back; a value from the
                // future is a peer bug and is ignored.
                if let Some(rtt) = now.as_micros().checked_sub(sent_at) {
                    let rtt = Duration::from_micros(rtt);
                    self.stats.rtt = Some(rtt);
                    self.push_event(SessionEvent::RoundTrip(rtt));
                }
            }
            ControlMessage::ReceiverReport(report) => self.stats.peer_report = Some(report),
            ControlMessage::Bye { reason } => {
                self.state = State::Closed;
                self.control_queue.clear();
                self.push_event(SessionEvent::PeerHungUp { reason });
            }
            // The switch already happened when the first packet of the new
            // epoch authenticated; the announcement only confirms it.
            ControlMessage::Rekey { .. } => {}
            ControlMessage::SasReveal { nonce } => self.on_sas_reveal(&nonce),
            ControlMessage::SasRevealAck => {
                if let SasProgress::Revealing { sas, .. } = self.sas {
                    // Replacing the state drops (and erases) the nonce copy.
                    self.sas = SasProgress::Revealed(sas);
                }
            }
        }
    }

    /// Callee: checks the revealed nonce against the offer's commitment.
    /// A reveal that reaches a caller is ignored: callers do not take one.
    fn on_sas_reveal(&mut self, nonce: &[u8; SAS_NONCE_LEN]) {
        let commitment = match &self.sas {
            SasProgress::AwaitingReveal { commitment, .. }
            | SasProgress::Verified { commitment, .. } => *commitment,
            _ => return,
        };
        // The commitment is public and the nonce arrived sealed from the
        // peer, so a plain comparison leaks nothing worth a constant-time one.
        if sas_commitment(nonce) != commitment {
            self.sas = SasProgress::Broken;
            self.push_event(SessionEvent::SasMismatch);
            self.hang_up(ByeReason::Error);
            return;
        }
        if let SasProgress::AwaitingReveal { key, .. } = &self.sas {
            let sas = Sas::derive(key, nonce);
            self.sas = SasProgress::Verified { sas, commitment };
            self.push_event(SessionEvent::SasReady(sas));
        }
        // Acknowledge every matching copy: an earlier ack may have been lost.
        self.queue_control(ControlMessage::SasRevealAck);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EpochChoice {
    Current,
    Next,
    Previous,
}
