//! What an offer and an answer say about media: the codec and packet
//! shape ([`MediaProfile`]). The addresses each side listens on are in
//! the `candidate` module.

use core::time::Duration;

use super::HandshakeError;
use crate::wire::Reader;

/// The audio codec carried in media packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// Opus at 48 kHz.
    Opus,
}

/// How media flows in one call. The packet length is fixed for the whole
/// call and never depends on what is said (see the `packet` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MediaProfile {
    /// Codec of the frames.
    pub codec: Codec,
    /// Duration of one frame, and the interval between media packets.
    pub frame_ms: u8,
    /// Length of every packet on the wire, header and tag included.
    pub packet_len: u16,
    /// How many earlier frames each packet repeats for loss recovery.
    pub redundancy: u8,
}

impl MediaProfile {
    /// Encoded length inside an offer or answer.
    pub const ENCODED_LEN: usize = 5;

    /// A profile that suits Opus voice at up to ~32 kbit/s with one
    /// redundant frame: 20 ms frames in 240-byte packets.
    pub const DEFAULT: MediaProfile = MediaProfile {
        codec: Codec::Opus,
        frame_ms: 20,
        packet_len: 240,
        redundancy: 1,
    };

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.push(match self.codec {
            Codec::Opus => 1,
        });
        out.push(self.frame_ms);
        out.extend_from_slice(&self.packet_len.to_be_bytes());
        out.push(self.redundancy);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, HandshakeError> {
        let codec = match r.u8() {
            Some(1) => Codec::Opus,
            Some(_) => return Err(HandshakeError::Malformed("unknown codec")),
            None => return Err(HandshakeError::Malformed("truncated profile")),
        };
        let frame_ms = r
            .u8()
            .ok_or(HandshakeError::Malformed("truncated profile"))?;
        let packet_len = r
            .u16()
            .ok_or(HandshakeError::Malformed("truncated profile"))?;
        let redundancy = r
            .u8()
            .ok_or(HandshakeError::Malformed("truncated profile"))?;
        let profile = Self {
            codec,
            frame_ms,
            packet_len,
            redundancy,
        };
        profile
            .validate()
            .map_err(|_| HandshakeError::Malformed("media profile out of range"))?;
        Ok(profile)
    }

    /// Checks that the values are in the ranges the packet layer supports.
    pub fn validate(&self) -> Result<(), &'static str> {
        if !matches!(self.frame_ms, 10 | 20 | 40 | 60) {
            return Err("frame duration must be 10, 20, 40 or 60 ms");
        }
        let len = usize::from(self.packet_len);
        if !(crate::packet::MIN_PACKET_LEN..=crate::packet::MAX_PACKET_LEN).contains(&len) {
            return Err("packet length out of range");
        }
        if self.redundancy > 4 {
            return Err("at most 4 redundant frames");
        }
        Ok(())
    }

    /// Interval between media packets.
    pub fn frame_interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.frame_ms))
    }
}
