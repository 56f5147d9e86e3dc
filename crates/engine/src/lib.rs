//! The I/O half of pqvoice.
//!
//! `proto` decides; this crate does. It owns the clock, the UDP sockets, the
//! sound devices, the codec and the on-disk profile, and drives `proto`'s
//! sans-IO state machines with real time and real packets.

pub mod account;
pub mod audio;
pub mod backup;
pub mod call;
pub mod clock;
pub mod codec;
pub mod contacts;
pub mod dial;
pub mod dsp;
pub mod jitter;
pub mod media;
pub mod net;
pub mod netsim;
pub mod offline;
pub mod phone;
pub mod playout;
pub mod profile;
pub mod recent_offers;
pub mod registry_client;
pub mod registry_tls;
pub mod resample;
