//! Long-term identity keys: a hybrid of Ed25519 and ML-DSA-65.
//!
//! Every device owns one [`IdentityKeyPair`]. Its public half,
//! [`PublicIdentity`], is what the registry binds to a username and what a
//! contact pins on first use. A [`HybridSignature`] carries one signature from
//! each algorithm over the same message, and [`PublicIdentity::verify`] accepts
//! it only when **both** verify. Forging one therefore needs a break of
//! Ed25519 (a quantum computer) *and* a break of ML-DSA-65 (a new lattice
//! attack); either algorithm alone keeps impersonation out of reach.
//!
//! # What is actually signed
//!
//! Neither half signs the caller's bytes directly. Both sign the same framed
//! message
//!
//! ```text
//! "pqvoice/hybrid-signature/v1" || fingerprint(public identity) ||
//! u32_be(len(domain)) || domain || msg
//! ```
//!
//! * The **domain** keeps a signature made for one purpose (registering,
//!   answering a call, a login challenge) from being replayed as another.
//!   Its length is framed, so `("ab", "c")` and `("a", "bc")` differ.
//! * The **fingerprint** of the whole hybrid key binds each half to the
//!   other: an Ed25519 signature lifted out of one hybrid identity does not
//!   verify as part of a second identity that reuses the same Ed25519 key
//!   next to a different ML-DSA key.
//!
//! ML-DSA-65 uses its deterministic signing variant (FIPS 204 allows it):
//! this crate never draws randomness itself, and deterministic signatures
//! make the known-answer vectors in `tests/vectors/` reproducible.
//!
//! # Encodings
//!
//! Every encoding starts with a version byte ([`IDENTITY_ENCODING_VERSION`])
//! so that a later format can be told apart and rejected cleanly:
//!
//! | object              | layout                                        | bytes |
//! |---------------------|-----------------------------------------------|-------|
//! | [`IdentityKeyPair`] | version, 32-byte master seed                  | 33    |
//! | [`PublicIdentity`]  | version, Ed25519 key (32), ML-DSA-65 key (1952) | 1985 |
//! | [`HybridSignature`] | version, Ed25519 sig (64), ML-DSA-65 sig (3309) | 3374 |
//!
//! The key pair is stored as its master seed: both component keys are
//! re-derived from it with HKDF-SHA256 under distinct labels, so the secret
//! file stays small and there is no way to store mismatched halves.

use core::fmt;

use ed25519_dalek::Signer as _;
use hkdf::Hkdf;
use libcrux_ml_dsa::ml_dsa_65::{
    self as mldsa, MLDSA65Signature, MLDSA65SigningKey, MLDSA65VerificationKey,
};
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// Version byte that starts every identity encoding of this module.
pub const IDENTITY_ENCODING_VERSION: u8 = 1;

/// Length of an Ed25519 public key.
const ED25519_PUBLIC_LEN: usize = 32;
/// Length of an Ed25519 signature.
const ED25519_SIGNATURE_LEN: usize = 64;
/// Length of an encoded ML-DSA-65 verifying key (FIPS 204, table 2).
const MLDSA65_PUBLIC_LEN: usize = 1952;
/// Length of an encoded ML-DSA-65 signature (FIPS 204, table 2).
const MLDSA65_SIGNATURE_LEN: usize = 3309;

/// Length of [`IdentityKeyPair::to_bytes`].
pub const SECRET_KEY_ENCODED_LEN: usize = 1 + 32;
/// Length of [`PublicIdentity::to_bytes`].
pub const PUBLIC_IDENTITY_ENCODED_LEN: usize = 1 + ED25519_PUBLIC_LEN + MLDSA65_PUBLIC_LEN;
/// Length of [`HybridSignature::to_bytes`].
pub const HYBRID_SIGNATURE_ENCODED_LEN: usize = 1 + ED25519_SIGNATURE_LEN + MLDSA65_SIGNATURE_LEN;

/// Prefix of the framed message that both signature halves sign.
const SIGNATURE_FRAME_LABEL: &[u8] = b"pqvoice/hybrid-signature/v1";
/// HKDF salt for splitting the master seed into the two component seeds.
const SEED_SPLIT_SALT: &[u8] = b"pqvoice/identity-seed/v1";

/// Why an identity key, public key or signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The encoding starts with a version byte this build does not know.
    #[error("unsupported identity encoding version {0}")]
    UnsupportedVersion(u8),
    /// The encoding has the wrong length for its kind.
    #[error("identity encoding has length {actual}, expected {expected}")]
    WrongLength {
        /// Length that the format requires.
        expected: usize,
        /// Length that was given.
        actual: usize,
    },
    /// The Ed25519 public key is not a valid curve point.
    #[error("malformed Ed25519 public key")]
    MalformedEd25519Key,
    /// The ML-DSA-65 signature bytes do not decode.
    #[error("malformed ML-DSA-65 signature")]
    MalformedMlDsaSignature,
    /// The signature does not verify. Which half failed is deliberately not
    /// said: a peer learns nothing from the refusal.
    #[error("signature verification failed")]
    BadSignature,
}

/// The secret half of a device identity: an Ed25519 key and an ML-DSA-65
/// key, both derived from one 32-byte master seed.
///
/// The seed and both component secrets are zeroized when the value is
/// dropped (the component crates erase their own key material on drop).
/// `Debug` prints only the public fingerprint.
pub struct IdentityKeyPair {
    /// Master seed; the only thing [`IdentityKeyPair::to_bytes`] stores.
    seed: Zeroizing<[u8; 32]>,
    ed25519: ed25519_dalek::SigningKey,
    /// Boxed: the encoded ML-DSA signing key is 4 KB. Zeroized on drop.
    ml_dsa: Box<MLDSA65SigningKey>,
    public: PublicIdentity,
}

impl IdentityKeyPair {
    /// Derives the key pair from a 32-byte seed. The same seed always gives
    /// the same keys; the caller supplies fresh OS randomness for a new
    /// identity (proto itself never reads randomness).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        // Split the master seed into independent component seeds:
        //   ed_seed = HKDF-Expand(HKDF-Extract(salt, seed), "ed25519", 32)
        //   ml_seed = HKDF-Expand(HKDF-Extract(salt, seed), "ml-dsa-65", 32)
        let hk = Hkdf::<Sha256>::new(Some(SEED_SPLIT_SALT), seed);
        let mut ed_seed = Zeroizing::new([0u8; 32]);
        let mut ml_seed = Zeroizing::new([0u8; 32]);
        hk.expand(b"ed25519", ed_seed.as_mut())
            .expect("32 bytes is far below HKDF-SHA256's 8160-byte output limit");
        hk.expand(b"ml-dsa-65", ml_seed.as_mut())
            .expect("32 bytes is far below HKDF-SHA256's 8160-byte output limit");

        let ed25519 = ed25519_dalek::SigningKey::from_bytes(&ed_seed);
        // FIPS 204 ML-DSA.KeyGen_internal(ξ = ml_seed).
        let pair = mldsa::generate_key_pair(*ml_seed);
        let ml_dsa = Box::new(pair.signing_key);

        let ed_public = ed25519.verifying_key();
        let public = PublicIdentity::from_parts(ed_public, pair.verification_key);
        Self {
            seed: Zeroizing::new(*seed),
            ed25519,
            ml_dsa,
            public,
        }
    }

    /// The public half, to publish at the registry and to pin.
    pub fn public(&self) -> &PublicIdentity {
        &self.public
    }

    /// Signs `msg` for the purpose named by `domain` with both algorithms.
    ///
    /// Use a distinct constant domain per purpose, e.g.
    /// `b"pqvoice/register/v1"`; a signature verifies only under the same
    /// domain.
    pub fn sign(&self, domain: &[u8], msg: &[u8]) -> HybridSignature {
        let framed = frame_message(&self.public.fingerprint, domain, msg);
        let ed25519 = self.ed25519.sign(&framed);
        // Deterministic ML-DSA (FIPS 204: rnd = 32 zero bytes), empty
        // context: the frame already separates purposes. proto reads no
        // randomness, and a signature depends only on key and message.
        // Signing fails only if the rejection loop exhausts its bound (below
        // 2^-128 per signature by FIPS 204's analysis) or the context
        // exceeds 255 bytes (it is empty); neither can happen in practice,
        // so a failure is a broken invariant.
        let ml_dsa = mldsa::sign(&self.ml_dsa, &framed, b"", [0u8; 32])
            .expect("ML-DSA-65 signing with an empty context cannot fail");
        HybridSignature {
            ed25519: ed25519.to_bytes(),
            ml_dsa: Box::new(*ml_dsa.as_ref()),
        }
    }

    /// Versioned encoding of the secret key (the master seed). Keep it in a
    /// file readable only by the user (mode 0600).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(SECRET_KEY_ENCODED_LEN));
        out.push(IDENTITY_ENCODING_VERSION);
        out.extend_from_slice(self.seed.as_ref());
        out
    }

    /// Parses [`IdentityKeyPair::to_bytes`] output.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdentityError> {
        let body = check_version_and_len(bytes, SECRET_KEY_ENCODED_LEN)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(body);
        Ok(Self::from_seed(&seed))
    }
}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Drop for IdentityKeyPair {
    fn drop(&mut self) {
        // `seed` is Zeroizing and ed25519-dalek zeroizes its key itself (its
        // `zeroize` feature is on); libcrux's ML-DSA key type does not, so
        // its bytes are erased here.
        self.seed.zeroize();
        self.ml_dsa.as_mut_slice().zeroize();
    }
}

/// The public half of a device identity.
///
/// Equality compares the encoded keys. `Debug` prints the fingerprint rather
/// than two kilobytes of key.
#[derive(Clone)]
pub struct PublicIdentity {
    ed25519: ed25519_dalek::VerifyingKey,
    /// Boxed: the encoded ML-DSA-65 key is 1952 bytes.
    ml_dsa: Box<MLDSA65VerificationKey>,
    /// The encoding, kept so that `to_bytes`, equality and the fingerprint
    /// need no re-encoding.
    encoded: Vec<u8>,
    fingerprint: [u8; 32],
}

impl PublicIdentity {
    fn from_parts(ed25519: ed25519_dalek::VerifyingKey, ml_dsa: MLDSA65VerificationKey) -> Self {
        let mut encoded = Vec::with_capacity(PUBLIC_IDENTITY_ENCODED_LEN);
        encoded.push(IDENTITY_ENCODING_VERSION);
        encoded.extend_from_slice(ed25519.as_bytes());
        encoded.extend_from_slice(ml_dsa.as_slice());
        let fingerprint = Sha256::digest(&encoded).into();
        Self {
            ed25519,
            ml_dsa: Box::new(ml_dsa),
            encoded,
            fingerprint,
        }
    }

    /// Versioned encoding: version byte, Ed25519 key, ML-DSA-65 key.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encoded.clone()
    }

    /// The encoding without copying it.
    pub fn as_bytes(&self) -> &[u8] {
        &self.encoded
    }

    /// Parses [`PublicIdentity::to_bytes`] output. Rejects unknown versions,
    /// wrong lengths and Ed25519 keys that are not curve points.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdentityError> {
        let body = check_version_and_len(bytes, PUBLIC_IDENTITY_ENCODED_LEN)?;
        let (ed_bytes, ml_bytes) = body.split_at(ED25519_PUBLIC_LEN);
        let ed_bytes: &[u8; ED25519_PUBLIC_LEN] = ed_bytes
            .try_into()
            .expect("split_at gave exactly ED25519_PUBLIC_LEN bytes");
        let ed25519 = ed25519_dalek::VerifyingKey::from_bytes(ed_bytes)
            .map_err(|_| IdentityError::MalformedEd25519Key)?;
        if ed25519.is_weak() {
            // A small-order key would let many signatures verify.
            return Err(IdentityError::MalformedEd25519Key);
        }
        let ml_bytes: &[u8; MLDSA65_PUBLIC_LEN] = ml_bytes
            .try_into()
            .expect("length was checked: the rest is exactly MLDSA65_PUBLIC_LEN");
        // Every bit pattern of this length is a valid ML-DSA-65 key
        // encoding (FIPS 204 pkDecode has no failure case).
        let ml_dsa = MLDSA65VerificationKey::new(*ml_bytes);
        Ok(Self::from_parts(ed25519, ml_dsa))
    }

    /// Checks a hybrid signature made by [`IdentityKeyPair::sign`] with the
    /// same `domain` and `msg`. Both halves must verify.
    pub fn verify(
        &self,
        domain: &[u8],
        msg: &[u8],
        sig: &HybridSignature,
    ) -> Result<(), IdentityError> {
        let framed = frame_message(&self.fingerprint, domain, msg);
        let ed_sig = ed25519_dalek::Signature::from_bytes(&sig.ed25519);
        // verify_strict also refuses non-canonical encodings and small-order
        // components, so a signature has exactly one valid form.
        let ed_ok = self.ed25519.verify_strict(&framed, &ed_sig).is_ok();
        let ml_sig = MLDSA65Signature::new(*sig.ml_dsa);
        let ml_ok = mldsa::verify(&self.ml_dsa, &framed, b"", &ml_sig).is_ok();
        // Evaluate both before deciding, so the time taken does not say
        // which half was wrong.
        if ed_ok & ml_ok {
            Ok(())
        } else {
            Err(IdentityError::BadSignature)
        }
    }

    /// SHA-256 of [`PublicIdentity::to_bytes`]: a short, stable name for the
    /// key (used in safety numbers, logs and the signature frame).
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }
}

impl PartialEq for PublicIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.encoded == other.encoded
    }
}

impl Eq for PublicIdentity {}

impl core::hash::Hash for PublicIdentity {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.encoded.hash(state);
    }
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PublicIdentity({}…)",
            crate::hex::encode(&self.fingerprint[..8])
        )
    }
}

/// One Ed25519 and one ML-DSA-65 signature over the same framed message.
#[derive(Clone, PartialEq, Eq)]
pub struct HybridSignature {
    ed25519: [u8; ED25519_SIGNATURE_LEN],
    /// Boxed so that a signature is cheap to move around inside messages.
    ml_dsa: Box<[u8; MLDSA65_SIGNATURE_LEN]>,
}

impl HybridSignature {
    /// Versioned encoding: version byte, Ed25519 signature, ML-DSA-65
    /// signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HYBRID_SIGNATURE_ENCODED_LEN);
        out.push(IDENTITY_ENCODING_VERSION);
        out.extend_from_slice(&self.ed25519);
        out.extend_from_slice(self.ml_dsa.as_ref());
        out
    }

    /// Parses [`HybridSignature::to_bytes`] output. Only the version and the
    /// length are checked here; whether the halves decode and verify is
    /// decided by [`PublicIdentity::verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdentityError> {
        let body = check_version_and_len(bytes, HYBRID_SIGNATURE_ENCODED_LEN)?;
        let (ed, ml) = body.split_at(ED25519_SIGNATURE_LEN);
        let ed25519 = ed
            .try_into()
            .expect("split_at gave exactly ED25519_SIGNATURE_LEN bytes");
        let ml: [u8; MLDSA65_SIGNATURE_LEN] = ml
            .try_into()
            .expect("length was checked: the rest is exactly MLDSA65_SIGNATURE_LEN");
        if !mldsa65_hint_is_well_formed(&ml) {
            return Err(IdentityError::MalformedMlDsaSignature);
        }
        Ok(Self {
            ed25519,
            ml_dsa: Box::new(ml),
        })
    }
}

impl fmt::Debug for HybridSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HybridSignature({}…)",
            crate::hex::encode(&self.ed25519[..8])
        )
    }
}

/// ML-DSA-65 signature layout (FIPS 204, sigEncode): challenge hash c̃
/// (λ/4 = 48 bytes), the response z (l = 5 polynomials of 256
/// coefficients at 20 bits), then the hint h in ω + k = 55 + 6 bytes.
const MLDSA65_OMEGA: usize = 55;
const MLDSA65_K: usize = 6;
const MLDSA65_HINT_OFFSET: usize = MLDSA65_SIGNATURE_LEN - (MLDSA65_OMEGA + MLDSA65_K);

/// FIPS 204 HintBitUnpack (Algorithm 21) as a predicate: the only part of
/// an ML-DSA signature that can fail to decode. The k trailing bytes are
/// running totals of hint positions, each at most ω and non-decreasing;
/// the positions of one polynomial must strictly increase; unused slots
/// must be zero. Every z and c̃ bit pattern decodes.
fn mldsa65_hint_is_well_formed(sig: &[u8; MLDSA65_SIGNATURE_LEN]) -> bool {
    let hint = &sig[MLDSA65_HINT_OFFSET..];
    let (positions, ends) = hint.split_at(MLDSA65_OMEGA);
    let mut index = 0usize;
    for &end in ends {
        let end = usize::from(end);
        if end < index || end > MLDSA65_OMEGA {
            return false;
        }
        let first = index;
        while index < end {
            if index > first && positions[index - 1] >= positions[index] {
                return false;
            }
            index += 1;
        }
    }
    positions[index..].iter().all(|&b| b == 0)
}

/// Builds the message that both signature halves sign (see module docs).
fn frame_message(fingerprint: &[u8; 32], domain: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut framed =
        Vec::with_capacity(SIGNATURE_FRAME_LABEL.len() + 32 + 4 + domain.len() + msg.len());
    framed.extend_from_slice(SIGNATURE_FRAME_LABEL);
    framed.extend_from_slice(fingerprint);
    // A domain longer than 4 GiB cannot exist in memory next to the rest,
    // so saturating here never changes a real frame.
    let domain_len = u32::try_from(domain.len()).unwrap_or(u32::MAX);
    framed.extend_from_slice(&domain_len.to_be_bytes());
    framed.extend_from_slice(domain);
    framed.extend_from_slice(msg);
    framed
}

/// Checks the leading version byte and total length; returns the body.
fn check_version_and_len(bytes: &[u8], expected: usize) -> Result<&[u8], IdentityError> {
    match bytes.first() {
        None => Err(IdentityError::WrongLength {
            expected,
            actual: 0,
        }),
        Some(&v) if v != IDENTITY_ENCODING_VERSION => Err(IdentityError::UnsupportedVersion(v)),
        Some(_) if bytes.len() != expected => Err(IdentityError::WrongLength {
            expected,
            actual: bytes.len(),
        }),
        Some(_) => Ok(&bytes[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOMAIN: &[u8] = b"pqvoice/test/v1";

    fn alice() -> IdentityKeyPair {
        IdentityKeyPair::from_seed(&[7u8; 32])
    }

    #[test]
    fn same_seed_gives_same_keys_and_different_seed_does_not() {
        assert_eq!(
            alice().public(),
            IdentityKeyPair::from_seed(&[7u8; 32]).public()
        );
        assert_ne!(
            alice().public(),
            IdentityKeyPair::from_seed(&[8u8; 32]).public()
        );
    }

    #[test]
    fn signature_verifies_under_its_own_domain_and_message_only() {
        let kp = alice();
        let sig = kp.sign(DOMAIN, b"hello");
        assert_eq!(kp.public().verify(DOMAIN, b"hello", &sig), Ok(()));
        assert_eq!(
            kp.public().verify(b"pqvoice/other/v1", b"hello", &sig),
            Err(IdentityError::BadSignature)
        );
        assert_eq!(
            kp.public().verify(DOMAIN, b"hellO", &sig),
            Err(IdentityError::BadSignature)
        );
    }

    #[test]
    fn domain_and_message_boundary_is_framed() {
        let kp = alice();
        let sig = kp.sign(b"ab", b"c");
        assert!(kp.public().verify(b"a", b"bc", &sig).is_err());
    }

    #[test]
    fn tampering_with_either_half_fails() {
        let kp = alice();
        let sig = kp.sign(DOMAIN, b"msg");
        let mut ed_bad = sig.clone();
        ed_bad.ed25519[10] ^= 1;
        assert_eq!(
            kp.public().verify(DOMAIN, b"msg", &ed_bad),
            Err(IdentityError::BadSignature)
        );
        let mut ml_bad = sig.clone();
        ml_bad.ml_dsa[5] ^= 1;
        assert_eq!(
            kp.public().verify(DOMAIN, b"msg", &ml_bad),
            Err(IdentityError::BadSignature)
        );
    }

    #[test]
    fn a_half_from_another_key_does_not_complete_a_signature() {
        let a = alice();
        let b = IdentityKeyPair::from_seed(&[9u8; 32]);
        let sa = a.sign(DOMAIN, b"msg");
        let sb = b.sign(DOMAIN, b"msg");
        let mixed = HybridSignature {
            ed25519: sa.ed25519,
            ml_dsa: sb.ml_dsa.clone(),
        };
        assert!(a.public().verify(DOMAIN, b"msg", &mixed).is_err());
        assert!(b.public().verify(DOMAIN, b"msg", &mixed).is_err());
    }

    #[test]
    fn debug_output_never_contains_the_seed() {
        let kp = IdentityKeyPair::from_seed(&[0xAB; 32]);
        let text = format!("{kp:?}");
        assert!(!text.contains("abab"), "{text}");
        assert!(text.contains("PublicIdentity("));
    }
}
