//! On the wire, the epoch and packet number are hidden: consecutive packets
//! of a session show unrelated header bytes, and a packet whose protected
//! header was altered does not open.

use crate::common::*;
use proto::packet::{HEADER_LEN, TYPE_BYTE};
use proto::session::{PacketError, SessionConfig};
use proto::time::Instant;

#[test]
fn consecutive_packets_have_unrelated_header_bytes() {
    let t = Instant::from_micros(0);
    let (mut a, _) = sessions(SessionConfig::default(), t);
    let packets: Vec<Vec<u8>> = (0..100).map(|i| media_packet(&mut a, t, i)).collect();
    let mut repeats = 0;
    for w in packets.windows(2) {
        assert_eq!(w[0][0], TYPE_BYTE);
        // Clear headers of packets n and n+1 would agree in the epoch byte
        // and the seven high counter bytes; protected, any byte agrees
        // with probability 1/256.
        repeats += (1..HEADER_LEN).filter(|&i| w[0][i] == w[1][i]).count();
    }
    assert!(repeats < 15, "{repeats} of 891 header bytes repeated");
    // The counter's high bytes, zero in the clear, are not zero on the wire.
    assert!(packets.iter().filter(|p| p[2..9] == [0; 7]).count() < 2);
}

#[test]
fn a_flipped_header_bit_fails_to_open_and_changes_nothing() {
    let t = Instant::from_micros(0);
    let (mut a, mut b) = sessions(SessionConfig::default(), t);
    let genuine = media_packet(&mut a, t, 7);
    for byte in 1..HEADER_LEN {
        let mut p = genuine.clone();
        p[byte] ^= 0x10;
        let err = b.handle_datagram(t, &mut p).expect_err("tampered header");
        assert!(
            matches!(
                err,
                PacketError::Unauthenticated | PacketError::UnknownEpoch | PacketError::Replayed(_)
            ),
            "byte {byte}: {err:?}"
        );
    }
    assert_eq!(b.stats().received, 0);
    // The genuine packet still opens: nothing was consumed by the forgeries.
    assert_eq!(open_media(&mut b, t, &genuine), Ok(7));
}
