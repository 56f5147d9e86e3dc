//! The SAS is committed: the callee learns it only from the caller's
//! revealed nonce, the reveal survives loss, and it stops once
//! acknowledged. (A reveal that does not match the commitment is tested in
//! `session/mod.rs`, where a test can make the caller lie.)

use crate::common::*;
use proto::control::ControlMessage;
use proto::session::{CallSession, Incoming, SessionConfig, SessionEvent};
use proto::time::Instant;

fn events(s: &mut CallSession) -> Vec<SessionEvent> {
    core::iter::from_fn(|| s.poll_event()).collect()
}

/// Control messages of `from`'s queued packets, as `to` opens them.
fn deliver(from: &mut CallSession, to: &mut CallSession, now: Instant) -> Vec<ControlMessage> {
    let mut buf = vec![0u8; from.packet_len()];
    let mut out = Vec::new();
    while let Some(n) = from.poll_transmit(now, &mut buf) {
        if let Ok(Incoming::Control(m)) = to.handle_datagram(now, &mut buf[..n]) {
            out.push(m);
        }
    }
    out
}

#[test]
fn the_callee_learns_the_sas_only_from_the_reveal() {
    let (caller, callee) = handshake();
    let sas = caller.sas().expect("caller knows it");
    // Nothing the callee holds after answering gives the digits: an answer
    // could not be chosen to produce particular ones.
    assert_eq!(callee.sas(), None);
    let t = Instant::from_micros(0);
    let mut a = CallSession::new(caller, SessionConfig::default(), t);
    let mut b = CallSession::new(callee, SessionConfig::default(), t);
    assert_eq!(a.sas(), Some(sas));
    assert!(events(&mut a).contains(&SessionEvent::SasReady(sas)));
    // Media alone does not reveal it.
    let p = media_packet(&mut a, t, 1);
    assert_eq!(open_media(&mut b, t, &p), Ok(1));
    assert_eq!(b.sas(), None);
    let got = deliver(&mut a, &mut b, t);
    assert!(matches!(got[..], [ControlMessage::SasReveal { .. }]));
    assert_eq!(b.sas(), Some(sas));
    assert!(events(&mut b).contains(&SessionEvent::SasReady(sas)));
}

#[test]
fn a_lost_reveal_is_repeated_until_acknowledged() {
    let t0 = Instant::from_micros(0);
    let cfg = SessionConfig::default();
    let (mut a, mut b) = sessions(cfg, t0);
    let sas = a.sas().expect("caller");
    // The network eats the caller's first control packets.
    let mut buf = vec![0u8; a.packet_len()];
    let mut lost = 0;
    while a.poll_transmit(t0, &mut buf).is_some() {
        lost += 1;
    }
    assert!(lost >= 1);
    assert_eq!(b.sas(), None);
    // One reveal interval later it goes out again and arrives.
    let mut t = t0;
    let mut reveals = 0;
    while b.sas().is_none() {
        t = t + cfg.sas_reveal_interval;
        a.handle_timeout(t);
        reveals += deliver(&mut a, &mut b, t)
            .iter()
            .filter(|m| matches!(m, ControlMessage::SasReveal { .. }))
            .count();
        assert!(reveals < 3, "the reveal was not repeated");
    }
    assert_eq!(b.sas(), Some(sas));
    // The callee's ack ends the repeats.
    let acks = deliver(&mut b, &mut a, t);
    assert!(acks.contains(&ControlMessage::SasRevealAck));
    for _ in 0..20 {
        t = t + cfg.sas_reveal_interval;
        a.handle_timeout(t);
        let sent = deliver(&mut a, &mut b, t);
        assert!(
            !sent
                .iter()
                .any(|m| matches!(m, ControlMessage::SasReveal { .. })),
            "reveal repeated after the ack"
        );
    }
}

#[test]
fn a_repeated_reveal_after_a_lost_ack_is_acknowledged_again() {
    let t0 = Instant::from_micros(0);
    let cfg = SessionConfig::default();
    let (mut a, mut b) = sessions(cfg, t0);
    deliver(&mut a, &mut b, t0);
    assert!(b.sas().is_some());
    // The ack is lost.
    let mut buf = vec![0u8; b.packet_len()];
    while b.poll_transmit(t0, &mut buf).is_some() {}
    let t1 = t0 + cfg.sas_reveal_interval;
    a.handle_timeout(t1);
    deliver(&mut a, &mut b, t1);
    assert!(deliver(&mut b, &mut a, t1).contains(&ControlMessage::SasRevealAck));
    assert!(!b.is_closed());
}
