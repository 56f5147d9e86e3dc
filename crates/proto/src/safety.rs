//! Safety numbers: digits two people compare to check that each holds the
//! other's real identity key.
//!
//! Each side's half is derived from its username and identity key alone:
//!
//! ```text
//! h_0     = "pqvoice/safety-number/v1" || u8(len(name)) || name || identity key
//! h_{i+1} = SHA-512(h_i || identity key)            for 5200 rounds
//! half    = first 30 bytes of the last hash, read as six 5-byte big-endian
//!           numbers, each mod 100 000, printed as six 5-digit groups
//! ```
//!
//! The number shown is the two halves concatenated in a fixed order (the
//! lexicographically smaller half first), so both phones show the same 60
//! digits in 12 groups of 5, like Signal's. The many hash rounds make it
//! expensive to search for a different key whose half matches; a changed
//! key on either side changes the number.

use sha2::{Digest as _, Sha512};

use crate::identity::PublicIdentity;

const ITERATIONS: usize = 5200;
const LABEL: &[u8] = b"pqvoice/safety-number/v1";
const GROUPS_PER_HALF: usize = 6;

/// The 60-digit number for one pair of users.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SafetyNumber {
    groups: [u32; 2 * GROUPS_PER_HALF],
}

impl SafetyNumber {
    /// Computes the safety number of two users; swapping the arguments
    /// gives the same number.
    pub fn new(
        my_username: &str,
        my_identity: &PublicIdentity,
        their_username: &str,
        their_identity: &PublicIdentity,
    ) -> Self {
        let a = half(my_username, my_identity);
        let b = half(their_username, their_identity);
        let (first, second) = if a <= b { (a, b) } else { (b, a) };
        let mut groups = [0u32; 2 * GROUPS_PER_HALF];
        groups[..GROUPS_PER_HALF].copy_from_slice(&first);
        groups[GROUPS_PER_HALF..].copy_from_slice(&second);
        Self { groups }
    }

    /// The 12 groups of 5 digits.
    pub fn groups(&self) -> [String; 12] {
        self.groups.map(|g| format!("{g:05}"))
    }

    /// All 60 digits without spaces.
    pub fn digits(&self) -> String {
        self.groups.iter().map(|g| format!("{g:05}")).collect()
    }
}

impl core::fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, g) in self.groups.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{g:05}")?;
        }
        Ok(())
    }
}

fn half(username: &str, identity: &PublicIdentity) -> [u32; GROUPS_PER_HALF] {
    let key = identity.as_bytes();
    let mut h = Sha512::new();
    h.update(LABEL);
    // Names longer than 255 bytes are cut in the length byte only; the
    // whole name is still hashed, so two different names stay different.
    h.update([username.len().min(255) as u8]);
    h.update(username.as_bytes());
    h.update(key);
    let mut digest = h.finalize();
    for _ in 1..ITERATIONS {
        let mut h = Sha512::new();
        h.update(digest);
        h.update(key);
        digest = h.finalize();
    }
    let mut out = [0u32; GROUPS_PER_HALF];
    for (i, chunk) in digest[..30].chunks_exact(5).enumerate() {
        let mut n = 0u64;
        for &b in chunk {
            n = (n << 8) | u64::from(b);
        }
        out[i] = (n % 100_000) as u32;
    }
    out
}
