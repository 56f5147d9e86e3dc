//! The media pipeline of a call, in sans-IO pieces.
//!
//! Three objects hold everything a call decides about its audio, and none
//! of them opens a socket, reads a clock or starts a thread; whatever
//! depends on time takes `now`:
//!
//! * [`MediaSender`]: one captured 20 ms frame in, one
//!   [`proto::packet::MediaPayload`] out, always the same number of bytes
//!   once sealed. It owns the encoder, the redundant copies of earlier
//!   frames and the choice of [`Protection`] mode, which follows the
//!   peer's receiver reports ([`ProtectionControl`]).
//! * [`MediaReceiver`]: the frames of each authenticated packet in (with
//!   their arrival time), 20 ms of audio out whenever the playback side
//!   wants it. It owns the adaptive jitter buffer and the decoder, and so
//!   the recovery of a missing frame: its own packet, a redundant copy in a
//!   later packet, the Opus in-band FEC of the next frame, concealment.
//!   [`PlaybackTarget`] decides how full the device's ring is kept.
//! * [`MediaStats`]: counts datagrams and bytes each way and turns them,
//!   with the session's and the two pieces' counters, into a [`CallStats`]
//!   snapshot.
//!
//! [`crate::call::run_call`] is the glue between these, a UDP socket and a
//! sound device; [`crate::offline::simulate_one_way`] (`pqvoice simulate`
//! and the offline quality bench) puts the seeded impairment model between
//! a sender and a receiver on a virtual clock; `tests/media_pipeline.rs`
//! runs sender, real sealed sessions, the impairment model and receiver
//! together in virtual time. All three drive the same code, so what the
//! bench measures is what a call does.

mod receiver;
mod sender;
mod stats;

pub use receiver::{MediaReceiver, PlaybackTarget};
pub use sender::{MediaError, MediaSender, Outgoing, Protection, ProtectionControl};
pub use stats::{CallStats, MediaStats};

/// Bytes of IPv4 and UDP headers in front of every datagram.
pub const IP_UDP_OVERHEAD: usize = 28;

/// `part` as a percentage of `whole`, 0 when there is no whole.
pub(crate) fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}
