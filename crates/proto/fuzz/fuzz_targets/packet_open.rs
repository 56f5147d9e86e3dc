//! Datagrams into Bob's side of a live call: nothing may panic, and only a
//! packet Alice really sealed may authenticate.
//!
//! The committed corpus holds Alice's genuine packets for this call (see
//! `pqvoice_proto_fuzz::caller_packets`), so the paths behind the AEAD tag
//! (media decoding, control messages, the SAS reveal, the next-epoch
//! switch, the hang-up) run with every corpus pass, and mutations of them
//! exercise the header, replay and epoch checks around real packet
//! numbers. When a `Bye` closes Bob's session it is rebuilt from the kept
//! offer with the same keys.
#![no_main]

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use pqvoice_proto_fuzz::{self as fx, Filler};
use proto::control::ControlMessage;
use proto::handshake::VerifiedOffer;
use proto::packet::{Header, ReceivedMedia};
use proto::session::CallSession;
use proto::time::Instant;

struct State {
    bob: CallSession,
    offer: VerifiedOffer,
    genuine: HashSet<Vec<u8>>,
}

fn state() -> &'static Mutex<State> {
    static S: OnceLock<Mutex<State>> = OnceLock::new();
    S.get_or_init(|| {
        let (_alice, bob, offer) = fx::sessions();
        let genuine = fx::caller_packets(&mut Filler::new())
            .into_iter()
            .map(|(_, bytes)| bytes)
            .collect();
        Mutex::new(State {
            bob,
            offer,
            genuine,
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let mut s = state().lock().unwrap_or_else(|e| e.into_inner());
    if s.bob.is_closed() {
        s.bob = fx::callee_session(&s.offer);
    }
    let mut buf = data.to_vec();
    let before = s.bob.stats().received;
    let opened = s
        .bob
        .handle_datagram(Instant::from_micros(1), &mut buf)
        .is_ok();
    let authenticated = s.bob.stats().received > before;
    if authenticated {
        assert!(s.genuine.contains(data), "a forged datagram authenticated");
    } else {
        assert!(!opened, "a datagram was accepted without authenticating");
    }
    let mut out = vec![0u8; s.bob.packet_len()];
    while s
        .bob
        .poll_transmit(Instant::from_micros(1), &mut out)
        .is_some()
    {}
    while s.bob.poll_event().is_some() {}
    drop(s);

    // The plaintext parsers behind the AEAD, fed directly.
    let _ = Header::parse(data);
    if let Some(m) = ReceivedMedia::decode(0, data) {
        assert_eq!(m.frames().count(), m.frame_count());
    }
    let _ = ControlMessage::decode(data);
});
