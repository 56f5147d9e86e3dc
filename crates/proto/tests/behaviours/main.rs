//! proto's integration tests: one behaviour per file, all in one test
//! binary. As seventeen binaries, each file was compiled with optimisations
//! (the package is optimised even in dev builds) and linked on its own,
//! about a minute of every cold build on two cores; as modules of one crate
//! they share one compilation of the fixtures and one link.

mod common;

mod constant_packet_size;
mod handshake_answer_window;
mod handshake_blob_text;
mod handshake_candidates;
mod handshake_mitm_key_substitution;
mod handshake_replayed_offer;
mod handshake_short_body;
mod handshake_success;
mod handshake_username_rule;
mod handshake_wrong_signature;
mod header_protection;
mod identity;
mod known_answer_vectors;
mod mldsa_interop;
mod no_io;
mod packet_replay_reorder;
mod packet_tampering;
mod proptest_roundtrip;
mod rekey_epochs;
mod rfc7983_first_byte;
mod safety_number;
mod sas_commitment;
mod signaling;
mod silence_timeout;
mod xwing_interop;
