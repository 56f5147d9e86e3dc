//! Arbitrary datagrams into a live call session: must never panic, and
//! nothing unauthenticated may open.
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use proto::handshake::{CallId, ExpectAnswer, MediaProfile, OfferParams, OfferPolicy};
use proto::identity::IdentityKeyPair;
use proto::packet::{Header, ReceivedMedia};
use proto::session::{CallSession, SessionConfig};
use proto::time::{Instant, UnixTime};

fn session() -> &'static Mutex<CallSession> {
    static S: OnceLock<Mutex<CallSession>> = OnceLock::new();
    S.get_or_init(|| {
        let now = UnixTime::from_secs(1_800_000_000);
        let a = IdentityKeyPair::from_seed(&[1; 32]);
        let b = IdentityKeyPair::from_seed(&[2; 32]);
        let params = OfferParams {
            call_id: CallId([3; 16]),
            caller: "alice".into(),
            callee: "bob".into(),
            candidates: vec![],
            profile: MediaProfile::DEFAULT,
        };
        let (_waiting, offer) =
            ExpectAnswer::start(&a, params, b.public().clone(), [4; 32], now).expect("start");
        let verified = offer
            .verify(a.public(), "bob", now, &OfferPolicy::default())
            .expect("verify");
        let (_answer, callee) = verified.accept(&b, vec![], [5; 32], now).expect("accept");
        let config = SessionConfig {
            idle_timeout: core::time::Duration::from_secs(u64::MAX / 4_000_000),
            ..SessionConfig::default()
        };
        Mutex::new(CallSession::new(callee, config, Instant::from_micros(0)))
    })
}

fuzz_target!(|data: &[u8]| {
    let mut buf = data.to_vec();
    let mut s = session().lock().unwrap_or_else(|e| e.into_inner());
    let before = s.stats().received;
    let result = s.handle_datagram(Instant::from_micros(1), &mut buf);
    assert!(result.is_err(), "a forged datagram authenticated");
    assert_eq!(s.stats().received, before);
    drop(s);
    // The plaintext parsers behind the AEAD, fed directly.
    let _ = Header::parse(data);
    if let Some(m) = ReceivedMedia::decode(0, data) {
        assert!(m.frames().count() == m.frame_count());
    }
});
