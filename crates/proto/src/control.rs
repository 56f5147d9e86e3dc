//! Control messages: what the two ends of a call tell each other besides
//! audio.
//!
//! They travel sealed in the same fixed-size packets as media (content
//! kind `0x02`, see the `packet` module), so on the wire a ping looks
//! exactly like a voice frame. Layout after the content-kind byte:
//!
//! ```text
//! 0x01 Ping            id u32 | sent_at u64 (sender's clock, µs)
//! 0x02 Pong            id u32 | echoed sent_at u64
//! 0x03 ReceiverReport  received u64 | lost u64 | duplicates u64 |
//!                      highest packet number u64 | jitter µs u32
//! 0x04 Bye             reason u8
//! 0x05 Rekey           new epoch u32
//! 0x06 SasReveal       nonce [32]   (caller -> callee, see `handshake`)
//! 0x07 SasRevealAck    (empty)      (callee -> caller)
//! ```
//!
//! Everything after the message is zero padding and is ignored.

use crate::wire::{Reader, SliceWriter};

/// Why a call ended, as told by [`ControlMessage::Bye`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByeReason {
    /// The user hung up.
    HungUp,
    /// The application is shutting down.
    Shutdown,
    /// An error on the sender's side ended the call.
    Error,
    /// A reason code this build does not know.
    Other(u8),
}

impl ByeReason {
    fn code(self) -> u8 {
        match self {
            ByeReason::HungUp => 0,
            ByeReason::Shutdown => 1,
            ByeReason::Error => 2,
            ByeReason::Other(c) => c,
        }
    }

    fn from_code(c: u8) -> Self {
        match c {
            0 => ByeReason::HungUp,
            1 => ByeReason::Shutdown,
            2 => ByeReason::Error,
            c => ByeReason::Other(c),
        }
    }
}

/// Reception statistics one side reports about the packets it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceiverReport {
    /// Authenticated packets received.
    pub received: u64,
    /// Packets missing below the highest packet number received.
    pub lost: u64,
    /// Duplicate packets refused by the replay window.
    pub duplicates: u64,
    /// Highest packet number received.
    pub highest_packet_number: u64,
    /// Interarrival jitter of media packets (RFC 3550 estimator), in µs.
    pub jitter_micros: u32,
}

/// A control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlMessage {
    /// Asks for a [`ControlMessage::Pong`]; measures round-trip time and
    /// doubles as a connectivity check on a candidate address.
    Ping {
        /// Chosen by the sender; echoed back.
        id: u32,
        /// Sender's clock when sent, in µs; echoed back.
        sent_at: u64,
    },
    /// The answer to a ping.
    Pong {
        /// The ping's id.
        id: u32,
        /// The ping's `sent_at`.
        sent_at: u64,
    },
    /// Reception statistics.
    ReceiverReport(ReceiverReport),
    /// The sender ends the call.
    Bye {
        /// Why.
        reason: ByeReason,
    },
    /// The sender moved its sending direction to a new key epoch.
    Rekey {
        /// The new epoch number.
        epoch: u32,
    },
    /// The caller reveals the SAS nonce it committed to in the offer. Sent
    /// until [`ControlMessage::SasRevealAck`] arrives.
    SasReveal {
        /// The nonce.
        nonce: [u8; 32],
    },
    /// The callee has the SAS nonce (and it matched the commitment).
    SasRevealAck,
}

/// Why a control payload did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The payload is not a control payload.
    #[error("not a control payload")]
    NotControl,
    /// Unknown message type.
    #[error("unknown control message type {0}")]
    UnknownType(u8),
    /// The payload ends inside the message.
    #[error("truncated control message")]
    Truncated,
    /// The buffer is too small for the message.
    #[error("buffer too small for control message")]
    BufferTooSmall,
}

const T_PING: u8 = 1;
const T_PONG: u8 = 2;
const T_REPORT: u8 = 3;
const T_BYE: u8 = 4;
const T_REKEY: u8 = 5;
const T_SAS_REVEAL: u8 = 6;
const T_SAS_REVEAL_ACK: u8 = 7;

/// Longest encoding of any control message, content kind included.
pub const MAX_CONTROL_LEN: usize = 2 + 8 * 4 + 4;

impl ControlMessage {
    /// Writes the plaintext payload (content kind, message, zero padding)
    /// into `out`.
    pub fn encode(&self, out: &mut [u8]) -> Result<(), ControlError> {
        let mut w = SliceWriter::new(out);
        let res = (|| {
            w.u8(crate::packet::CONTENT_CONTROL)?;
            match *self {
                ControlMessage::Ping { id, sent_at } => {
                    w.u8(T_PING)?;
                    w.u32(id)?;
                    w.u64(sent_at)?;
                }
                ControlMessage::Pong { id, sent_at } => {
                    w.u8(T_PONG)?;
                    w.u32(id)?;
                    w.u64(sent_at)?;
                }
                ControlMessage::ReceiverReport(r) => {
                    w.u8(T_REPORT)?;
                    w.u64(r.received)?;
                    w.u64(r.lost)?;
                    w.u64(r.duplicates)?;
                    w.u64(r.highest_packet_number)?;
                    w.u32(r.jitter_micros)?;
                }
                ControlMessage::Bye { reason } => {
                    w.u8(T_BYE)?;
                    w.u8(reason.code())?;
                }
                ControlMessage::Rekey { epoch } => {
                    w.u8(T_REKEY)?;
                    w.u32(epoch)?;
                }
                ControlMessage::SasReveal { nonce } => {
                    w.u8(T_SAS_REVEAL)?;
                    w.put(&nonce)?;
                }
                ControlMessage::SasRevealAck => w.u8(T_SAS_REVEAL_ACK)?,
            }
            Some(w.position())
        })();
        let used = res.ok_or(ControlError::BufferTooSmall)?;
        out[used..].fill(0);
        Ok(())
    }

    /// Parses a decrypted control payload (content kind included).
    pub fn decode(payload: &[u8]) -> Result<Self, ControlError> {
        let mut r = Reader::new(payload);
        match r.u8() {
            Some(crate::packet::CONTENT_CONTROL) => {}
            Some(_) => return Err(ControlError::NotControl),
            None => return Err(ControlError::Truncated),
        }
        let t = r.u8().ok_or(ControlError::Truncated)?;
        let msg = (|| {
            Some(match t {
                T_PING => ControlMessage::Ping {
                    id: r.u32()?,
                    sent_at: r.u64()?,
                },
                T_PONG => ControlMessage::Pong {
                    id: r.u32()?,
                    sent_at: r.u64()?,
                },
                T_REPORT => ControlMessage::ReceiverReport(ReceiverReport {
                    received: r.u64()?,
                    lost: r.u64()?,
                    duplicates: r.u64()?,
                    highest_packet_number: r.u64()?,
                    jitter_micros: r.u32()?,
                }),
                T_BYE => ControlMessage::Bye {
                    reason: ByeReason::from_code(r.u8()?),
                },
                T_REKEY => ControlMessage::Rekey { epoch: r.u32()? },
                T_SAS_REVEAL => ControlMessage::SasReveal { nonce: r.array()? },
                T_SAS_REVEAL_ACK => ControlMessage::SasRevealAck,
                _ => return None,
            })
        })();
        match msg {
            Some(m) => Ok(m),
            None if !(T_PING..=T_SAS_REVEAL_ACK).contains(&t) => Err(ControlError::UnknownType(t)),
            None => Err(ControlError::Truncated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips() {
        let msgs = [
            ControlMessage::Ping { id: 7, sent_at: 99 },
            ControlMessage::Pong { id: 7, sent_at: 99 },
            ControlMessage::ReceiverReport(ReceiverReport {
                received: 1,
                lost: 2,
                duplicates: 3,
                highest_packet_number: 4,
                jitter_micros: 5,
            }),
            ControlMessage::Bye {
                reason: ByeReason::Other(77),
            },
            ControlMessage::Rekey { epoch: 3 },
            ControlMessage::SasReveal { nonce: [0xA5; 32] },
            ControlMessage::SasRevealAck,
        ];
        for m in msgs {
            let mut buf = [0xEEu8; 64];
            m.encode(&mut buf).expect("fits");
            assert_eq!(ControlMessage::decode(&buf), Ok(m));
        }
    }

    #[test]
    fn bad_payloads_are_errors() {
        assert_eq!(ControlMessage::decode(&[]), Err(ControlError::Truncated));
        assert_eq!(
            ControlMessage::decode(&[1, 1]),
            Err(ControlError::NotControl)
        );
        assert_eq!(
            ControlMessage::decode(&[2, 9]),
            Err(ControlError::UnknownType(9))
        );
        assert_eq!(
            ControlMessage::decode(&[2, 6, 1, 2, 3]),
            Err(ControlError::Truncated)
        );
        assert_eq!(
            ControlMessage::decode(&[2, 1, 0]),
            Err(ControlError::Truncated)
        );
        let mut small = [0u8; 4];
        assert_eq!(
            ControlMessage::Rekey { epoch: 1 }.encode(&mut small),
            Err(ControlError::BufferTooSmall)
        );
    }
}
