//! The I/O half of pqvoice.
//!
//! `proto` decides; this crate does. It owns the clock, the UDP sockets, the
//! sound devices, the codec and the on-disk profile, and drives `proto`'s
//! sans-IO state machines with real time and real packets.

pub mod profile;
