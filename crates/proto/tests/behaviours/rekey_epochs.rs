//! Keys move to new epochs by packet count and by time; packets of the
//! previous epoch still open during the grace period and not after it.

use crate::common::*;
use core::time::Duration;
use proto::control::ControlMessage;
use proto::session::{Direction, Incoming, PacketError, SessionConfig, SessionEvent};
use proto::time::Instant;

fn config() -> SessionConfig {
    SessionConfig {
        rekey_after_packets: 5,
        rekey_grace: Duration::from_secs(2),
        ..SessionConfig::default()
    }
}

fn drain(s: &mut proto::session::CallSession) -> Vec<SessionEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

#[test]
fn rekey_by_packet_count_keeps_in_flight_packets_during_grace() {
    let t = Instant::from_micros(0);
    let (mut a, mut b) = sessions(config(), t);
    // Epoch 0: packets 0..5. The sixth packet is sealed under epoch 1.
    let old: Vec<_> = (0..5).map(|i| media_packet(&mut a, t, i)).collect();
    let new = media_packet(&mut a, t, 5);
    // (The epoch byte is header-protected on the wire; the events say
    // which epoch sealed what.)
    assert!(drain(&mut a).contains(&SessionEvent::Rekeyed {
        direction: Direction::Send,
        epoch: 1
    }));
    // The new-epoch packet overtakes the old ones.
    assert_eq!(open_media(&mut b, t, &new), Ok(5));
    assert!(drain(&mut b).contains(&SessionEvent::Rekeyed {
        direction: Direction::Receive,
        epoch: 1
    }));
    assert_eq!(b.stats().receive_epoch, 1);
    // Old-epoch packets still open within the grace period...
    assert_eq!(
        open_media(&mut b, t + Duration::from_secs(1), &old[0]),
        Ok(0)
    );
    assert_eq!(
        open_media(&mut b, t + Duration::from_secs(1), &old[1]),
        Ok(1)
    );
    // ...and not after it.
    let late = t + Duration::from_secs(3);
    b.handle_timeout(late);
    assert_eq!(
        open_media(&mut b, late, &old[2]),
        Err(format!("{:?}", PacketError::UnknownEpoch))
    );
}

#[test]
fn rekey_announcement_is_sent_and_understood() {
    let t = Instant::from_micros(0);
    let (mut a, mut b) = sessions(config(), t);
    for i in 0..6 {
        let p = media_packet(&mut a, t, i);
        assert_eq!(open_media(&mut b, t, &p), Ok(i));
    }
    let mut buf = vec![0u8; a.packet_len()];
    let mut saw_rekey = false;
    while let Some(n) = a.poll_transmit(t, &mut buf) {
        let mut pkt = buf[..n].to_vec();
        if let Ok(Incoming::Control(ControlMessage::Rekey { epoch })) =
            b.handle_datagram(t, &mut pkt)
        {
            assert_eq!(epoch, 1);
            saw_rekey = true;
        }
    }
    assert!(saw_rekey);
}

#[test]
fn many_epochs_in_both_directions_and_by_time() {
    let t0 = Instant::from_micros(0);
    let cfg = SessionConfig {
        rekey_after_time: Duration::from_secs(60),
        ..config()
    };
    let (mut a, mut b) = sessions(cfg, t0);
    let mut t = t0;
    for i in 0..600u32 {
        t = t + Duration::from_millis(20);
        let p = media_packet(&mut a, t, i);
        assert_eq!(open_media(&mut b, t, &p), Ok(i), "a->b {i}");
        let p = media_packet(&mut b, t, i);
        assert_eq!(open_media(&mut a, t, &p), Ok(i), "b->a {i}");
    }
    // 600 packets at 5 per epoch: 119 rekeys, epoch numbers wrap the
    // epoch byte (which only carries the low 8 bits) without trouble.
    assert_eq!(a.stats().send_epoch, 119);
    assert_eq!(b.stats().receive_epoch, 119);

    // Time-based: a session that sends little still rekeys after 60 s.
    // (A long idle timeout keeps the silent session open that long.)
    let quiet = SessionConfig {
        idle_timeout: Duration::from_secs(3600),
        ..cfg
    };
    let (mut c, _) = sessions(quiet, t0);
    c.handle_timeout(t0 + Duration::from_secs(59));
    assert_eq!(c.stats().send_epoch, 0);
    c.handle_timeout(t0 + Duration::from_secs(61));
    assert_eq!(c.stats().send_epoch, 1);
}
