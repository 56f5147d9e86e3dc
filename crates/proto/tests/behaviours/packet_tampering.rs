//! Any change to a sealed packet, header or ciphertext or tag, makes it
//! fail authentication; a packet from another call fails too, and none of
//! these disturb the session.

use crate::common::*;
use proto::packet::HEADER_LEN;
use proto::session::{PacketError, SessionConfig};
use proto::time::Instant;

#[test]
fn flipping_any_single_bit_is_detected() {
    let t = Instant::from_micros(0);
    let (mut a, mut b) = sessions(SessionConfig::default(), t);
    let packet = media_packet(&mut a, t, 7);
    for byte in 0..packet.len() {
        for bit in [0u8, 3, 7] {
            let mut bad = packet.clone();
            bad[byte] ^= 1 << bit;
            let err = open_media(&mut b, t, &bad).expect_err("tampered packet opened");
            // Byte 0 is the type/version (refused before crypto). Bytes
            // 1..10 are the protected header and bytes 10..26 the sample
            // its mask comes from: a flip there unmasks to another epoch
            // (no keys for it) or another packet number. The rest fails
            // authentication.
            let expected: &[&str] = match byte {
                0 => &["Malformed"],
                1..26 => &["UnknownEpoch", "Unauthenticated"],
                _ => &["Unauthenticated"],
            };
            assert!(
                expected.contains(&err.as_str()),
                "byte {byte} bit {bit}: {err}"
            );
        }
    }
    // The genuine packet still opens after all that.
    assert_eq!(open_media(&mut b, t, &packet), Ok(7));
    assert_eq!(b.stats().received, 1);
    assert!(b.stats().unauthenticated >= (packet.len() as u64 - 1) * 3);
}

#[test]
fn header_is_authenticated_as_associated_data() {
    let t = Instant::from_micros(0);
    let (mut a, mut b) = sessions(SessionConfig::default(), t);
    let packet = media_packet(&mut a, t, 1);
    // Claim a different packet number: the nonce and the AAD change.
    let mut renumbered = packet.clone();
    renumbered[HEADER_LEN - 1] ^= 0x10;
    assert_eq!(
        open_media(&mut b, t, &renumbered),
        Err("Unauthenticated".into())
    );
}

#[test]
fn wrong_length_and_foreign_packets_are_refused() {
    let t = Instant::from_micros(0);
    let (mut a, mut b) = sessions(SessionConfig::default(), t);
    let packet = media_packet(&mut a, t, 1);
    let mut short = packet[..packet.len() - 1].to_vec();
    assert_eq!(
        b.handle_datagram(t, &mut short).err(),
        Some(PacketError::Malformed)
    );
    // A packet of a different call (same users, new handshake with other
    // randomness) does not authenticate.
    let (mut other_a, _) = {
        let (waiting, offer) = proto::handshake::ExpectAnswer::start(
            &alice(),
            params(),
            bob().public().clone(),
            [0x77; 32],
            [0x79; 32],
            NOW,
        )
        .expect("start");
        let verified = offer
            .verify(alice().public(), "bob", NOW, &Default::default())
            .expect("verify");
        let (answer, callee) = verified
            .accept(&bob(), vec![], [0x78; 32], NOW)
            .expect("accept");
        let caller = waiting
            .handle_answer(&answer, NOW, &Default::default())
            .expect("answer");
        (
            proto::session::CallSession::new(caller, SessionConfig::default(), t),
            callee,
        )
    };
    let foreign = media_packet(&mut other_a, t, 1);
    // Its header unmasks under the wrong key to an arbitrary epoch, which
    // is usually one this call has no keys for.
    let err = open_media(&mut b, t, &foreign).expect_err("foreign packet opened");
    assert!(
        ["Unauthenticated", "UnknownEpoch"].contains(&err.as_str()),
        "{err}"
    );
    assert_eq!(b.stats().received, 0);
}
