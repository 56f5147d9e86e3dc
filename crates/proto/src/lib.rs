//! The sans-IO protocol core of pqvoice.
//!
//! Nothing in this crate touches a socket, a file, a thread or a clock. Every
//! function whose result depends on time takes `now` as an argument; input
//! arrives through `handle_*` methods and output leaves through `poll_*`
//! methods. That makes every protocol rule testable deterministically over a
//! simulated network with a virtual clock.

pub mod control;
pub mod handshake;
pub mod identity;
pub mod packet;
pub mod replay;
pub mod safety;
pub mod schedule;
pub mod session;
pub mod time;
mod wire;

/// Version of the wire protocol spoken by this crate.
pub const PROTOCOL_VERSION: u8 = 1;

// The version shares the first packet byte with the packet type and must
// fit in its low nibble; checked when the crate compiles.
const _: () = assert!(PROTOCOL_VERSION > 0 && PROTOCOL_VERSION < 16);
