//! Identity encodings and hybrid signatures, through the public API only.

use proto::identity::{
    HYBRID_SIGNATURE_ENCODED_LEN, HybridSignature, IdentityError, IdentityKeyPair,
    PUBLIC_IDENTITY_ENCODED_LEN, PublicIdentity, SECRET_KEY_ENCODED_LEN,
};

const DOMAIN: &[u8] = b"pqvoice/register/v1";

#[test]
fn every_encoding_round_trips() {
    let kp = IdentityKeyPair::from_seed(&[1u8; 32]);
    let secret = kp.to_bytes();
    assert_eq!(secret.len(), SECRET_KEY_ENCODED_LEN);
    let kp2 = IdentityKeyPair::from_bytes(&secret).expect("own encoding parses");
    assert_eq!(kp.public(), kp2.public());

    let public = kp.public().to_bytes();
    assert_eq!(public.len(), PUBLIC_IDENTITY_ENCODED_LEN);
    let parsed = PublicIdentity::from_bytes(&public).expect("own encoding parses");
    assert_eq!(&parsed, kp.public());
    assert_eq!(parsed.fingerprint(), kp.public().fingerprint());

    let sig = kp.sign(DOMAIN, b"alice");
    let sig_bytes = sig.to_bytes();
    assert_eq!(sig_bytes.len(), HYBRID_SIGNATURE_ENCODED_LEN);
    let sig2 = HybridSignature::from_bytes(&sig_bytes).expect("own encoding parses");
    assert_eq!(sig, sig2);
    // A signature made by the re-loaded key verifies under the parsed public key.
    parsed
        .verify(DOMAIN, b"alice", &kp2.sign(DOMAIN, b"alice"))
        .expect("reloaded key signs validly");
}

#[test]
fn fingerprint_is_sha256_of_the_public_encoding() {
    use sha2::{Digest, Sha256};
    let kp = IdentityKeyPair::from_seed(&[2u8; 32]);
    let expected: [u8; 32] = Sha256::digest(kp.public().to_bytes()).into();
    assert_eq!(kp.public().fingerprint(), expected);
}

#[test]
fn flipping_a_byte_in_either_half_of_the_encoded_signature_fails() {
    let kp = IdentityKeyPair::from_seed(&[3u8; 32]);
    let sig = kp.sign(DOMAIN, b"m").to_bytes();
    // Byte 1.. is Ed25519, byte 65.. is ML-DSA-65.
    for pos in [
        1usize,
        40,
        64,
        65,
        100,
        2000,
        HYBRID_SIGNATURE_ENCODED_LEN - 1,
    ] {
        let mut bad = sig.clone();
        bad[pos] ^= 0x01;
        match HybridSignature::from_bytes(&bad) {
            Ok(s) => assert_eq!(
                kp.public().verify(DOMAIN, b"m", &s),
                Err(IdentityError::BadSignature),
                "tampered byte {pos} verified"
            ),
            Err(e) => assert_eq!(e, IdentityError::MalformedMlDsaSignature, "byte {pos}"),
        }
    }
}

#[test]
fn another_identity_cannot_verify() {
    let a = IdentityKeyPair::from_seed(&[4u8; 32]);
    let b = IdentityKeyPair::from_seed(&[5u8; 32]);
    let sig = a.sign(DOMAIN, b"m");
    assert_eq!(
        b.public().verify(DOMAIN, b"m", &sig),
        Err(IdentityError::BadSignature)
    );
}

#[test]
fn malformed_bytes_are_errors_not_panics() {
    let kp = IdentityKeyPair::from_seed(&[6u8; 32]);
    let public = kp.public().to_bytes();
    let sig = kp.sign(DOMAIN, b"m").to_bytes();
    let secret = kp.to_bytes();

    assert!(matches!(
        PublicIdentity::from_bytes(&[]),
        Err(IdentityError::WrongLength { actual: 0, .. })
    ));
    assert!(matches!(
        PublicIdentity::from_bytes(&public[..public.len() - 1]),
        Err(IdentityError::WrongLength { .. })
    ));
    let mut wrong_version = public.clone();
    wrong_version[0] = 2;
    assert_eq!(
        PublicIdentity::from_bytes(&wrong_version),
        Err(IdentityError::UnsupportedVersion(2))
    );
    assert!(matches!(
        HybridSignature::from_bytes(&sig[..10]),
        Err(IdentityError::WrongLength { .. })
    ));
    assert!(IdentityKeyPair::from_bytes(&secret[..5]).is_err());
    let mut long_secret = secret.to_vec();
    long_secret.push(0);
    assert!(IdentityKeyPair::from_bytes(&long_secret).is_err());

    // An Ed25519 key of small order (the identity point) is refused.
    let mut weak = public.clone();
    weak[1..33].copy_from_slice(&{
        let mut p = [0u8; 32];
        p[0] = 1;
        p
    });
    assert_eq!(
        PublicIdentity::from_bytes(&weak),
        Err(IdentityError::MalformedEd25519Key)
    );

    // Arbitrary garbage of the right lengths never panics.
    let good_sig = kp.sign(DOMAIN, b"m");
    let mut x: u32 = 12345;
    for _ in 0..8 {
        let mut buf = vec![1u8; PUBLIC_IDENTITY_ENCODED_LEN];
        for b in buf.iter_mut().skip(1) {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (x >> 16) as u8;
        }
        if let Ok(p) = PublicIdentity::from_bytes(&buf) {
            assert!(p.verify(DOMAIN, b"m", &good_sig).is_err());
        }
        let mut sbuf = vec![1u8; HYBRID_SIGNATURE_ENCODED_LEN];
        for b in sbuf.iter_mut().skip(1) {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (x >> 16) as u8;
        }
        if let Ok(s) = HybridSignature::from_bytes(&sbuf) {
            assert!(kp.public().verify(DOMAIN, b"m", &s).is_err());
        }
    }
}
