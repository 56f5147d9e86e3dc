//! The ML-DSA-65 half of an identity is standard FIPS 204: keys derived from
//! the identity seed and the deterministic signatures over the documented
//! frame are exactly what an independent implementation (RustCrypto
//! `ml-dsa`) derives and accepts, and the reverse.

use hkdf::Hkdf;
use ml_dsa::signature::{Keypair as _, Signer as _, Verifier as _};
use ml_dsa::{EncodedVerifyingKey, MlDsa65, Signature, SigningKey};
use proto::identity::{HybridSignature, IdentityKeyPair};
use sha2::Sha256;

const DOMAIN: &[u8] = b"pqvoice/interop/v1";

/// The ML-DSA seed of an identity, as the identity module documents it.
fn ml_seed(master: &[u8; 32]) -> [u8; 32] {
    let hk = Hkdf::<Sha256>::new(Some(b"pqvoice/identity-seed/v1"), master);
    let mut out = [0u8; 32];
    hk.expand(b"ml-dsa-65", &mut out).expect("32 bytes");
    out
}

/// The framed message both halves sign (identity module docs).
fn frame(fingerprint: &[u8; 32], domain: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut f = b"pqvoice/hybrid-signature/v1".to_vec();
    f.extend_from_slice(fingerprint);
    f.extend_from_slice(&(domain.len() as u32).to_be_bytes());
    f.extend_from_slice(domain);
    f.extend_from_slice(msg);
    f
}

#[test]
fn public_key_and_signature_match_an_independent_implementation() {
    for master in [[1u8; 32], [0x42; 32], [0xfe; 32]] {
        let ours = IdentityKeyPair::from_seed(&master);
        let theirs = SigningKey::<MlDsa65>::from_seed(&ml_seed(&master).into());

        let public = ours.public().to_bytes();
        let their_public = theirs.verifying_key().encode();
        assert_eq!(&public[33..], their_public.as_slice(), "public keys differ");

        let msg = b"a message to sign";
        let sig = ours.sign(DOMAIN, msg).to_bytes();
        let framed = frame(&ours.public().fingerprint(), DOMAIN, msg);
        let their_sig: Signature<MlDsa65> = theirs.sign(&framed);
        assert_eq!(
            &sig[65..],
            their_sig.encode().as_slice(),
            "signatures differ"
        );

        // And their verifier accepts ours.
        let vk = ml_dsa::VerifyingKey::<MlDsa65>::decode(
            &EncodedVerifyingKey::<MlDsa65>::try_from(&public[33..]).expect("length"),
        );
        let decoded = Signature::<MlDsa65>::try_from(&sig[65..]).expect("decodes");
        vk.verify(&framed, &decoded)
            .expect("independent verifier accepts");
    }
}

#[test]
fn a_signature_made_elsewhere_over_the_frame_verifies_here() {
    let master = [9u8; 32];
    let ours = IdentityKeyPair::from_seed(&master);
    let theirs = SigningKey::<MlDsa65>::from_seed(&ml_seed(&master).into());
    let msg = b"hello";
    // Keep our Ed25519 half, replace the ML-DSA half with theirs over the
    // same frame, but for a different message: it must be refused.
    let framed_other = frame(&ours.public().fingerprint(), DOMAIN, b"other");
    let other: Signature<MlDsa65> = theirs.sign(&framed_other);
    let mut bytes = ours.sign(DOMAIN, msg).to_bytes();
    bytes[65..].copy_from_slice(other.encode().as_slice());
    let mixed = HybridSignature::from_bytes(&bytes).expect("well formed");
    assert!(ours.public().verify(DOMAIN, msg, &mixed).is_err());
    // Over the right message, their half is exactly ours, so it verifies.
    let framed = frame(&ours.public().fingerprint(), DOMAIN, msg);
    let same: Signature<MlDsa65> = theirs.sign(&framed);
    bytes[65..].copy_from_slice(same.encode().as_slice());
    let sig = HybridSignature::from_bytes(&bytes).expect("well formed");
    assert!(ours.public().verify(DOMAIN, msg, &sig).is_ok());
}
