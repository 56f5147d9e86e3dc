//! X-Wing: the hybrid key encapsulation of the handshake (X25519 +
//! ML-KEM-768 under the CFRG X-Wing combiner, draft-connolly-cfrg-xwing-kem).
//!
//! Built here from its two halves rather than taken from the `x-wing`
//! crate, for speed: ML-KEM-768 comes from `libcrux-ml-kem` (formally
//! verified, with AVX2 code chosen at run time; several times faster here
//! than the portable RustCrypto code), and the caller keeps its expanded key
//! pair instead of re-deriving it from the seed at decapsulation. The bytes
//! are exactly X-Wing's: the test `xwing_interop` checks keys, ciphertexts and
//! shared secrets against the `x-wing` crate, and the known-answer vectors
//! did not change.
//!
//! ```text
//! KeyGen(seed):    e = SHAKE256(seed, 96)
//!                  (pk_M, sk_M) = ML-KEM-768.KeyGen_internal(d = e[0..32], z = e[32..64])
//!                  sk_X = e[64..96], pk_X = X25519(sk_X, 9)
//!                  pk = pk_M || pk_X                                  (1216 bytes)
//! Encaps(pk, r):   (ct_M, ss_M) = ML-KEM-768.Encaps_internal(pk_M, r[0..32])
//!                  ct_X = X25519(r[32..64], 9), ss_X = X25519(r[32..64], pk_X)
//!                  ct = ct_M || ct_X                                  (1120 bytes)
//! Combiner:        ss = SHA3-256(ss_M || ss_X || ct_X || pk_X || "\.//^\")
//! ```
//!
//! Both sides refuse an all-zero X25519 result (a small-order point), so a
//! forged key or ciphertext cannot cancel the classical half; ML-KEM public
//! keys get FIPS 203's modulus check.

use libcrux_ml_kem::mlkem768::{self, MlKem768Ciphertext, MlKem768PrivateKey, MlKem768PublicKey};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, Zeroizing};

/// Length of an X-Wing public (encapsulation) key.
pub const PUBLIC_KEY_LEN: usize = ML_KEM_PUBLIC_LEN + 32;
/// Length of an X-Wing ciphertext.
pub const CIPHERTEXT_LEN: usize = ML_KEM_CIPHERTEXT_LEN + 32;

const ML_KEM_PUBLIC_LEN: usize = 1184;
const ML_KEM_CIPHERTEXT_LEN: usize = 1088;
/// The combiner's label, six ASCII bytes `\.//^\`.
const LABEL: &[u8; 6] = b"\\.//^\\";

/// Why an X-Wing operation refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XWingError {
    /// The ML-KEM half of a public key fails FIPS 203's modulus check.
    BadPublicKey,
    /// An X25519 result was all zero: the peer sent a small-order point.
    NonContributory,
}

/// A checked X-Wing public key.
#[derive(Clone)]
pub struct PublicKeyXWing {
    ml_kem: MlKem768PublicKey,
    x25519: PublicKey,
}

/// Public keys compare by their encoding (nothing secret in it).
impl PartialEq for PublicKeyXWing {
    fn eq(&self, other: &Self) -> bool {
        self.ml_kem.as_slice() == other.ml_kem.as_slice()
            && self.x25519.as_bytes() == other.x25519.as_bytes()
    }
}

impl Eq for PublicKeyXWing {}

impl PublicKeyXWing {
    /// Parses and checks a 1216-byte key.
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<Self, XWingError> {
        let (m, x) = bytes.split_at(ML_KEM_PUBLIC_LEN);
        let m: [u8; ML_KEM_PUBLIC_LEN] = m.try_into().expect("split at ML_KEM_PUBLIC_LEN");
        let x: [u8; 32] = x.try_into().expect("the rest is 32 bytes");
        let ml_kem = MlKem768PublicKey::from(m);
        if !mlkem768::validate_public_key(&ml_kem) {
            return Err(XWingError::BadPublicKey);
        }
        Ok(Self {
            ml_kem,
            x25519: PublicKey::from(x),
        })
    }

    /// The 1216-byte encoding.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        let mut out = [0u8; PUBLIC_KEY_LEN];
        out[..ML_KEM_PUBLIC_LEN].copy_from_slice(self.ml_kem.as_slice());
        out[ML_KEM_PUBLIC_LEN..].copy_from_slice(self.x25519.as_bytes());
        out
    }

    /// Encapsulates with 64 bytes of fresh randomness (the first 32 for
    /// ML-KEM, the last 32 as the X25519 ephemeral secret). Returns the
    /// ciphertext and the 32-byte shared secret.
    pub fn encapsulate(
        &self,
        randomness: &[u8; 64],
    ) -> Result<([u8; CIPHERTEXT_LEN], Zeroizing<[u8; 32]>), XWingError> {
        let mut rand_m = Zeroizing::new([0u8; 32]);
        let mut rand_x = Zeroizing::new([0u8; 32]);
        rand_m.copy_from_slice(&randomness[..32]);
        rand_x.copy_from_slice(&randomness[32..]);
        let (ct_m, ss_m) = mlkem768::encapsulate(&self.ml_kem, *rand_m);
        let ss_m = Zeroizing::new(ss_m);
        // StaticSecret zeroizes itself on drop (x25519-dalek `zeroize`).
        let ek_x = StaticSecret::from(*rand_x);
        let ct_x = PublicKey::from(&ek_x);
        let ss_x = ek_x.diffie_hellman(&self.x25519);
        if !ss_x.was_contributory() {
            return Err(XWingError::NonContributory);
        }
        let ss = combine(&ss_m, ss_x.as_bytes(), &ct_x, &self.x25519);
        let mut ct = [0u8; CIPHERTEXT_LEN];
        ct[..ML_KEM_CIPHERTEXT_LEN].copy_from_slice(ct_m.as_slice());
        ct[ML_KEM_CIPHERTEXT_LEN..].copy_from_slice(ct_x.as_bytes());
        Ok((ct, ss))
    }
}

/// An X-Wing secret key, expanded once from its 32-byte seed. Every secret
/// part is erased on drop.
pub struct SecretKeyXWing {
    ml_kem: MlKem768PrivateKey,
    x25519: StaticSecret,
    public: PublicKeyXWing,
}

impl SecretKeyXWing {
    /// X-Wing KeyGen from a 32-byte seed (the X-Wing secret key itself).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let mut expanded: Zeroizing<[u8; 96]> = Zeroizing::new(libcrux_sha3::shake256::<96>(seed));
        let mut d_z = Zeroizing::new([0u8; 64]);
        d_z.copy_from_slice(&expanded[..64]);
        let mut sk_x = Zeroizing::new([0u8; 32]);
        sk_x.copy_from_slice(&expanded[64..]);
        expanded.zeroize();
        let (ml_kem, pk_m) = mlkem768::generate_key_pair(*d_z).into_parts();
        let x25519 = StaticSecret::from(*sk_x);
        let public = PublicKeyXWing {
            ml_kem: pk_m,
            x25519: PublicKey::from(&x25519),
        };
        Self {
            ml_kem,
            x25519,
            public,
        }
    }

    /// The public half.
    pub fn public(&self) -> &PublicKeyXWing {
        &self.public
    }

    /// Decapsulates `ct`; refuses a ciphertext whose X25519 half is a
    /// small-order point. (A wrong ML-KEM half yields an unrelated secret by
    /// implicit rejection, so the handshake fails later at the first packet.)
    pub fn decapsulate(
        &self,
        ct: &[u8; CIPHERTEXT_LEN],
    ) -> Result<Zeroizing<[u8; 32]>, XWingError> {
        let (m, x) = ct.split_at(ML_KEM_CIPHERTEXT_LEN);
        let m: [u8; ML_KEM_CIPHERTEXT_LEN] = m.try_into().expect("split at the ML-KEM length");
        let x: [u8; 32] = x.try_into().expect("the rest is 32 bytes");
        let ss_m = Zeroizing::new(mlkem768::decapsulate(
            &self.ml_kem,
            &MlKem768Ciphertext::from(m),
        ));
        let ct_x = PublicKey::from(x);
        let ss_x = self.x25519.diffie_hellman(&ct_x);
        if !ss_x.was_contributory() {
            return Err(XWingError::NonContributory);
        }
        Ok(combine(&ss_m, ss_x.as_bytes(), &ct_x, &self.public.x25519))
    }
}

impl Drop for SecretKeyXWing {
    fn drop(&mut self) {
        // libcrux's key type does not erase itself; the X25519 secret does.
        self.ml_kem[0..].zeroize();
    }
}

/// The X-Wing combiner: SHA3-256(ss_M || ss_X || ct_X || pk_X || label).
fn combine(
    ss_m: &[u8; 32],
    ss_x: &[u8; 32],
    ct_x: &PublicKey,
    pk_x: &PublicKey,
) -> Zeroizing<[u8; 32]> {
    let mut input = Zeroizing::new([0u8; 32 * 4 + LABEL.len()]);
    input[..32].copy_from_slice(ss_m);
    input[32..64].copy_from_slice(ss_x);
    input[64..96].copy_from_slice(ct_x.as_bytes());
    input[96..128].copy_from_slice(pk_x.as_bytes());
    input[128..].copy_from_slice(LABEL);
    Zeroizing::new(libcrux_sha3::sha256(&input[..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree_and_a_different_ciphertext_disagrees() {
        let sk = SecretKeyXWing::from_seed(&[7; 32]);
        let pk = PublicKeyXWing::from_bytes(&sk.public().to_bytes()).expect("valid key");
        let (ct, ss) = pk.encapsulate(&[9; 64]).expect("encapsulates");
        assert_eq!(*sk.decapsulate(&ct).expect("decapsulates"), *ss);
        let mut other = ct;
        other[10] ^= 1;
        assert_ne!(*sk.decapsulate(&other).expect("implicit rejection"), *ss);
    }

    #[test]
    fn small_order_points_are_refused_on_both_sides() {
        let sk = SecretKeyXWing::from_seed(&[7; 32]);
        let mut bytes = sk.public().to_bytes();
        bytes[ML_KEM_PUBLIC_LEN..].fill(0); // the identity point
        let pk = PublicKeyXWing::from_bytes(&bytes).expect("ML-KEM half is fine");
        assert_eq!(
            pk.encapsulate(&[1; 64]).err(),
            Some(XWingError::NonContributory)
        );
        let good = PublicKeyXWing::from_bytes(&sk.public().to_bytes()).expect("valid");
        let (mut ct, _) = good.encapsulate(&[1; 64]).expect("ok");
        ct[ML_KEM_CIPHERTEXT_LEN..].fill(0);
        assert_eq!(sk.decapsulate(&ct).err(), Some(XWingError::NonContributory));
    }

    #[test]
    fn an_ml_kem_key_with_an_out_of_range_coefficient_is_refused() {
        let sk = SecretKeyXWing::from_seed(&[3; 32]);
        let mut bytes = sk.public().to_bytes();
        // First 12-bit coefficient := 0xFFF (>= q = 3329).
        bytes[0] = 0xFF;
        bytes[1] |= 0x0F;
        assert_eq!(
            PublicKeyXWing::from_bytes(&bytes).err(),
            Some(XWingError::BadPublicKey)
        );
    }
}
