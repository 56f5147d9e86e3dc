//! Our sealed packets share the media socket with STUN and TURN traffic
//! (binding requests to the registry, a TURN allocation and its
//! ChannelData). RFC 7983 demultiplexes on the first byte: 0..=3 is STUN,
//! 64..=79 is TURN ChannelData. Every sealed packet this build can send,
//! media and control alike, must start with a byte outside both ranges, or
//! a receiver would hand our audio to its STUN parser (or the reverse).

use crate::common::*;
use proto::PROTOCOL_VERSION;
use proto::packet::{PACKET_TYPE_SEALED, TYPE_BYTE};
use proto::session::SessionConfig;
use proto::time::Instant;

const STUN: core::ops::RangeInclusive<u8> = 0..=3;
const CHANNEL_DATA: core::ops::RangeInclusive<u8> = 64..=79;

fn outside_stun_and_turn(byte: u8) -> bool {
    !STUN.contains(&byte) && !CHANNEL_DATA.contains(&byte)
}

/// Every packet-layer version this build speaks (one today; a build that
/// reads two versions lists both here).
const VERSIONS_SPOKEN: [u8; 1] = [PROTOCOL_VERSION];

#[test]
fn the_type_byte_of_every_spoken_version_is_outside_stun_and_channel_data() {
    for v in VERSIONS_SPOKEN {
        let byte = (PACKET_TYPE_SEALED << 4) | v;
        assert!(outside_stun_and_turn(byte), "version {v}: {byte:#04x}");
    }
    assert_eq!(TYPE_BYTE, (PACKET_TYPE_SEALED << 4) | PROTOCOL_VERSION);
    // Any version the low nibble can hold keeps a sealed packet in 16..=31.
    for v in 1..16u8 {
        let byte = (PACKET_TYPE_SEALED << 4) | v;
        assert!(outside_stun_and_turn(byte), "version {v}: {byte:#04x}");
    }
}

#[test]
fn every_sealed_packet_starts_outside_stun_and_channel_data() {
    let t = Instant::from_micros(0);
    let (mut a, mut b) = sessions(SessionConfig::default(), t);
    let mut firsts = Vec::new();
    for seq in 0..50 {
        firsts.push(media_packet(&mut a, t, seq)[0]);
        firsts.push(media_packet(&mut b, t, seq)[0]);
    }
    // Control packets: the SAS reveal, pings, probes and byes.
    let mut buf = vec![0u8; a.packet_len()];
    a.queue_ping(t);
    b.queue_ping(t);
    for s in [&mut a, &mut b] {
        while let Some(n) = s.poll_transmit(t, &mut buf) {
            firsts.push(buf[..n][0]);
        }
        let (_, n) = s
            .seal_probe(t, &mut buf)
            .expect("an active session seals a probe");
        firsts.push(buf[..n][0]);
        s.hang_up(proto::control::ByeReason::HungUp);
        while let Some(n) = s.poll_transmit(t, &mut buf) {
            firsts.push(buf[..n][0]);
        }
    }
    assert!(firsts.len() > 100);
    for byte in firsts {
        assert_eq!(byte, TYPE_BYTE);
        assert!(outside_stun_and_turn(byte), "{byte:#04x}");
    }
}
