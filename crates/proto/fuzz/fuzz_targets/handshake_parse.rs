//! Offers, answers, identity keys and signatures from the registry:
//! parsing never panics and what parses re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::handshake::{Answer, Offer};
use proto::identity::{HybridSignature, PublicIdentity};

fuzz_target!(|data: &[u8]| {
    if let Ok(o) = Offer::from_bytes(data) {
        assert_eq!(o.to_bytes(), data);
    }
    if let Ok(a) = Answer::from_bytes(data) {
        assert_eq!(a.to_bytes(), data);
    }
    if let Ok(p) = PublicIdentity::from_bytes(data) {
        assert_eq!(p.to_bytes(), data);
    }
    if let Ok(s) = HybridSignature::from_bytes(data) {
        assert_eq!(s.to_bytes(), data);
    }
});
