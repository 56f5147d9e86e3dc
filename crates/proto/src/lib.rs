//! The sans-IO protocol core of pqvoice.
//!
//! Nothing in this crate touches a socket, a file, a thread, a clock or the
//! OS random number generator. Every function whose result depends on time
//! takes `now` as an argument ([`time::Instant`] for monotonic timers,
//! [`time::UnixTime`] for wall-clock checks); randomness comes in as seed
//! bytes drawn by the caller; input arrives through `handle_*` methods and
//! output leaves through `poll_*` methods. That makes every protocol rule
//! testable deterministically over a simulated network with a virtual
//! clock, and it is why the engine, not this crate, owns the sockets.
//!
//! # A call, step by step (what the engine does)
//!
//! **Once per device**: `IdentityKeyPair::from_seed(&os_random_32)`, store
//! [`identity::IdentityKeyPair::to_bytes`] in a 0600 file, publish
//! [`identity::PublicIdentity::to_bytes`] at the registry.
//!
//! **Caller**
//! 1. [`handshake::ExpectAnswer::start`]`(identity, params, pinned_callee_key,
//!    os_random_32, another_os_random_32, unix_now)` gives the waiting state
//!    and an [`handshake::Offer`]; send `offer.to_bytes()` through the
//!    registry.
//! 2. When an answer blob arrives: [`handshake::Answer::from_bytes`], then
//!    `state.handle_answer(&answer, unix_now, &policy)`. On error you get the state back
//!    ([`handshake::AnswerRejected`]) and may keep waiting; on success an
//!    [`handshake::Established`].
//!
//! **Callee**
//! 1. [`handshake::Offer::from_bytes`]; look up the pinned key for
//!    `offer.caller()` (first contact: the key the registry returns, then pin
//!    it); `offer.verify(&pinned, my_username, unix_now, &policy)`; then
//!    [`handshake::SeenOffers::check_and_insert`] against replays. Ring.
//! 2. On accept: `verified.accept(identity, my_candidates, os_random_32,
//!    unix_now)` gives the [`handshake::Answer`] to send back and an
//!    [`handshake::Established`].
//!
//! **Both sides, media phase**: show [`safety::SafetyNumber`], and the SAS
//! when [`session::SessionEvent::SasReady`] says it is known (at once for
//! the caller, after the caller's committed nonce arrived for the callee);
//! bind one UDP socket; then
//! `let mut s = CallSession::new(established, SessionConfig::default(), now)`
//! and drive it in this order:
//!
//! ```text
//! every frame interval (e.g. 20 ms), speech or silence alike:
//!     n = s.send_media(now, &MediaPayload { timestamp, frames }, &mut buf)?  -> send buf[..n]
//! for every datagram received (buffer of at least s.packet_len() bytes):
//!     match s.handle_datagram(now, &mut buf[..len]) {
//!         Ok(Incoming::Media(m))   => push m.frames() into the jitter buffer
//!         Ok(Incoming::Control(_)) => {}            // already acted upon
//!         Err(_)                   => drop it, count it (never tell the peer why)
//!     }
//! when now >= s.poll_timeout():  s.handle_timeout(now)
//! after EVERY one of the calls above, drain the outputs:
//!     while let Some(n) = s.poll_transmit(now, &mut buf) { send buf[..n] }
//!     while let Some(ev) = s.poll_event() { Connected / SasReady / Rekeyed /
//!                                           RoundTrip / PeerHungUp / TimedOut /
//!                                           SasMismatch }
//!     sleep until s.poll_timeout()    // None: the call is over
//! to hang up: s.hang_up(ByeReason::HungUp), then drain poll_transmit.
//! ```
//!
//! Packets from `poll_transmit` are ordinary call packets (pings, pongs,
//! receiver reports, rekey notices, bye): send them to the current peer
//! address. To check a new peer address before moving there, seal a probe
//! with [`session::CallSession::seal_probe`], send it to that address and
//! move when the matching pong comes back from it; the first authenticated
//! packet from the peer raises [`session::SessionEvent::Connected`].
//!
//! # Panic policy
//!
//! Errors mean bad input; a panic means a broken internal rule. No peer,
//! file or user input can make this crate panic (fuzzed in
//! `crates/proto/fuzz`), and every `expect` says why it cannot fail.
//!
//! # Map of the crate
//!
//! * [`identity`]: hybrid Ed25519 + ML-DSA-65 identity keys and signatures.
//! * [`safety`]: safety numbers for comparing identity keys.
//! * [`handshake`]: offer/answer with X-Wing, typed handshake states.
//! * [`schedule`]: the HKDF key schedule, key epochs and the SAS.
//! * [`packet`]: the wire format of sealed constant-size packets.
//! * [`control`]: control messages inside sealed packets.
//! * [`replay`]: the sliding replay window.
//! * [`session`]: the call state machine.
//! * [`time`]: the caller-supplied time types.
//! * [`hex`]: the lowercase hex encoder every crate uses.
//!
//! `docs/protocol.md` in the repository describes the wire format, the key
//! schedule and the choice of crypto crates in one place.

pub mod control;
pub mod handshake;
pub mod hex;
pub mod identity;
pub mod packet;
pub mod replay;
pub mod safety;
pub mod schedule;
pub mod session;
pub mod signaling;
pub mod time;
mod wire;
pub mod xwing;

/// Version of the wire protocol spoken by this crate.
pub const PROTOCOL_VERSION: u8 = 2;

// The version shares the first packet byte with the packet type and must
// fit in its low nibble; checked when the crate compiles.
const _: () = assert!(PROTOCOL_VERSION > 0 && PROTOCOL_VERSION < 16);
