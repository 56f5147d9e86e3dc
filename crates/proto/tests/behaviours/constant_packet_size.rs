//! Every packet of a call has the same length: speech, silence, redundant
//! frames, pings, reports, rekey notices and bye alike.

use crate::common::*;
use core::time::Duration;
use proto::control::ByeReason;
use proto::handshake::MediaProfile;
use proto::packet::{MediaFrame, MediaPayload};
use proto::session::SessionConfig;
use proto::time::Instant;

#[test]
fn speech_silence_and_control_packets_are_all_the_same_length() {
    let t0 = Instant::from_micros(0);
    let cfg = SessionConfig {
        rekey_after_packets: 50,
        ..SessionConfig::default()
    };
    let (mut a, mut b) = sessions(cfg, t0);
    let expected = usize::from(MediaProfile::DEFAULT.packet_len);
    assert_eq!(a.packet_len(), expected);
    let mut lengths = std::collections::BTreeSet::new();
    let mut buf = vec![0u8; 2048];
    let speech = vec![0x55u8; 80]; // 32 kbit/s speech: 80 bytes per 20 ms
    let silence = vec![0xF8u8; 3]; // an Opus silence frame
    let mut t = t0;
    for i in 0..300u32 {
        t = t + Duration::from_millis(20);
        let (cur, prev) = if (i / 25) % 2 == 0 {
            (&speech, &speech)
        } else {
            (&silence, &silence)
        };
        let frames = [
            MediaFrame { age: 0, data: cur },
            MediaFrame { age: 1, data: prev },
        ];
        let n = a
            .send_media(
                t,
                &MediaPayload {
                    timestamp: i * 960,
                    frames: &frames,
                },
                &mut buf,
            )
            .expect("fits");
        lengths.insert(n);
        let mut pkt = buf[..n].to_vec();
        b.handle_datagram(t, &mut pkt).expect("opens");
        a.handle_timeout(t);
        while let Some(n) = a.poll_transmit(t, &mut buf) {
            lengths.insert(n);
        }
    }
    a.hang_up(ByeReason::HungUp);
    while let Some(n) = a.poll_transmit(t, &mut buf) {
        lengths.insert(n);
    }
    assert_eq!(lengths.into_iter().collect::<Vec<_>>(), vec![expected]);
    assert!(
        a.stats().send_epoch >= 5,
        "rekey notices were among the packets"
    );
}

#[test]
fn media_that_does_not_fit_is_refused_rather_than_growing_the_packet() {
    let t0 = Instant::from_micros(0);
    let (mut a, _) = sessions(SessionConfig::default(), t0);
    let cap = a.frame_capacity(1);
    let mut buf = vec![0u8; 2048];
    let fits = vec![1u8; cap];
    let frames = [MediaFrame {
        age: 0,
        data: &fits,
    }];
    assert_eq!(
        a.send_media(
            t0,
            &MediaPayload {
                timestamp: 0,
                frames: &frames
            },
            &mut buf
        ),
        Ok(a.packet_len())
    );
    let too_big = vec![1u8; cap + 1];
    let frames = [MediaFrame {
        age: 0,
        data: &too_big,
    }];
    assert!(
        a.send_media(
            t0,
            &MediaPayload {
                timestamp: 0,
                frames: &frames
            },
            &mut buf
        )
        .is_err()
    );
}
