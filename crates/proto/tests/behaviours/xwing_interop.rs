//! proto's X-Wing (libcrux ML-KEM-768 + x25519-dalek + the combiner) is
//! byte for byte the `x-wing` crate's: same public key from a seed, same
//! ciphertext and shared secret from the same randomness, and each side
//! decapsulates the other's ciphertexts to the same secret.

use proto::xwing::{PublicKeyXWing, SecretKeyXWing};
use x_wing::{Decapsulate as _, Decapsulator as _, KeyExport as _};

fn seeds() -> impl Iterator<Item = ([u8; 32], [u8; 64])> {
    (0u8..6).map(|i| {
        let mut seed = [0u8; 32];
        let mut rand = [0u8; 64];
        for (j, b) in seed.iter_mut().enumerate() {
            *b = i.wrapping_mul(31).wrapping_add(j as u8);
        }
        for (j, b) in rand.iter_mut().enumerate() {
            *b = i.wrapping_mul(17) ^ (j as u8).wrapping_mul(7);
        }
        (seed, rand)
    })
}

#[test]
fn keys_ciphertexts_and_secrets_match_the_x_wing_crate() {
    for (seed, rand) in seeds() {
        let ours = SecretKeyXWing::from_seed(&seed);
        let theirs = x_wing::DecapsulationKey::from(seed);
        let their_pk = theirs.encapsulation_key().to_bytes();
        assert_eq!(
            &ours.public().to_bytes()[..],
            &their_pk[..],
            "public keys differ"
        );

        let pk = PublicKeyXWing::from_bytes(&ours.public().to_bytes()).expect("valid");
        let (ct, ss) = pk.encapsulate(&rand).expect("encapsulates");
        let (their_ct, their_ss) = theirs
            .encapsulation_key()
            .encapsulate_deterministic(&rand.into());
        assert_eq!(&ct[..], &their_ct[..], "ciphertexts differ");
        assert_eq!(&ss[..], &their_ss[..], "shared secrets differ");

        // Cross decapsulation, including a tampered ML-KEM half (implicit
        // rejection must give the same pseudo-random secret on both).
        let mut bad = ct;
        bad[100] ^= 0x40;
        for c in [ct, bad] {
            let mine = ours.decapsulate(&c).expect("contributory");
            let theirs_ss = theirs.decapsulate(&c.into());
            assert_eq!(&mine[..], &theirs_ss[..], "decapsulations differ");
        }
    }
}
