//! Shared fixtures for the integration tests: two users, a handshake
//! between them, and a tiny seeded network with a virtual clock.
#![allow(dead_code)] // each test file uses a different subset

use core::net::SocketAddr;
use core::time::Duration;

use proto::handshake::{
    Answer, Candidate, CandidateKind, Established, ExpectAnswer, HandshakeCallId, MediaProfile,
    Offer, OfferParams, OfferPolicy,
};
use proto::identity::IdentityKeyPair;
use proto::packet::{MediaFrame, MediaPayload};
use proto::session::{CallSession, Incoming, SessionConfig};
use proto::time::{Instant, UnixTime};

pub const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);

pub fn alice() -> IdentityKeyPair {
    IdentityKeyPair::from_seed(&[0xA1; 32])
}

pub fn bob() -> IdentityKeyPair {
    IdentityKeyPair::from_seed(&[0xB0; 32])
}

pub fn mallory() -> IdentityKeyPair {
    IdentityKeyPair::from_seed(&[0x66; 32])
}

/// A host candidate at `addr`, the most preferred of its kind.
pub fn host(addr: &str) -> Candidate {
    let addr: SocketAddr = addr.parse().expect("literal address");
    Candidate::new(CandidateKind::Host, addr, u16::MAX)
}

pub fn params() -> OfferParams {
    OfferParams {
        call_id: HandshakeCallId([0x42; 16]),
        caller: "alice".into(),
        callee: "bob".into(),
        candidates: vec![host("127.0.0.1:40000")],
        profile: MediaProfile::DEFAULT,
    }
}

/// Alice calls Bob: returns Alice's waiting state and the offer.
pub fn offer(alice: &IdentityKeyPair, bob: &IdentityKeyPair) -> (ExpectAnswer, Offer) {
    ExpectAnswer::start(
        alice,
        params(),
        bob.public().clone(),
        [0x11; 32],
        [0x33; 32],
        NOW,
    )
    .expect("valid params")
}

/// A full handshake over the wire encodings; returns (caller, callee).
pub fn handshake() -> (Established, Established) {
    let (a, b) = (alice(), bob());
    let (waiting, offer) = offer(&a, &b);
    let offer = Offer::from_bytes(&offer.to_bytes()).expect("offer parses");
    let verified = offer
        .verify(a.public(), "bob", NOW, &OfferPolicy::default())
        .expect("offer verifies");
    let candidates = vec![host("127.0.0.1:40001")];
    let (answer, callee) = verified
        .accept(&b, candidates, [0x22; 32], NOW)
        .expect("accept");
    let answer = Answer::from_bytes(&answer.to_bytes()).expect("answer parses");
    let caller = waiting
        .handle_answer(&answer, NOW, &Default::default())
        .expect("answer verifies");
    (caller, callee)
}

pub fn sessions(config: SessionConfig, now: Instant) -> (CallSession, CallSession) {
    let (caller, callee) = handshake();
    (
        CallSession::new(caller, config, now),
        CallSession::new(callee, config, now),
    )
}

/// Seals one media packet with a recognisable frame.
pub fn media_packet(s: &mut CallSession, now: Instant, seq: u32) -> Vec<u8> {
    let data = seq.to_be_bytes();
    let frames = [MediaFrame {
        age: 0,
        data: &data,
    }];
    let payload = MediaPayload {
        timestamp: seq * 960,
        frames: &frames,
    };
    let mut buf = vec![0u8; s.packet_len()];
    let n = s.send_media(now, &payload, &mut buf).expect("media fits");
    buf.truncate(n);
    buf
}

/// Opens a media packet and returns the sequence number inside it.
pub fn open_media(s: &mut CallSession, now: Instant, packet: &[u8]) -> Result<u32, String> {
    let mut buf = packet.to_vec();
    match s.handle_datagram(now, &mut buf) {
        Ok(Incoming::Media(m)) => {
            let f = m.frames().next().ok_or("no frame")?;
            Ok(u32::from_be_bytes(
                f.data.try_into().map_err(|_| "frame size")?,
            ))
        }
        Ok(Incoming::Control(c)) => Err(format!("control: {c:?}")),
        Err(e) => Err(format!("{e:?}")),
    }
}

/// Delivers every queued control packet of `from` to `to`.
pub fn pump_control(from: &mut CallSession, to: &mut CallSession, now: Instant) -> usize {
    let mut buf = vec![0u8; from.packet_len()];
    let mut n = 0;
    while let Some(len) = from.poll_transmit(now, &mut buf) {
        let mut pkt = buf[..len].to_vec();
        let _ = to.handle_datagram(now, &mut pkt);
        n += 1;
    }
    n
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
