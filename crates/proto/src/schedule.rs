//! The key schedule: from one X-Wing shared secret to every key of a call.
//!
//! ```text
//! TH   = transcript hash of the signed offer and answer (see handshake)
//! PRK  = HKDF-Extract(salt = TH, IKM = X-Wing shared secret)
//!
//! C[caller->callee, 0] = HKDF-Expand(PRK, "pqvoice/v1 chain caller->callee", 32)
//! C[callee->caller, 0] = HKDF-Expand(PRK, "pqvoice/v1 chain callee->caller", 32)
//! H[caller->callee]    = HKDF-Expand(PRK, "pqvoice/v1 header key caller->callee", 32)
//! H[callee->caller]    = HKDF-Expand(PRK, "pqvoice/v1 header key callee->caller", 32)
//! S                    = HKDF-Expand(PRK, "pqvoice/v1 sas key", 32)
//!
//! for each direction d and epoch n:
//!   aead key  K[d,n] = HKDF-Expand(C[d,n], "pqvoice/v1 aead key", 32)
//!   aead iv   V[d,n] = HKDF-Expand(C[d,n], "pqvoice/v1 aead iv", 12)
//!   mask key  M[d,n] = HKDF-Expand(C[d,n], "pqvoice/v1 mask key", 32)
//!   next      C[d,n+1] = HKDF-Expand(C[d,n], "pqvoice/v1 next epoch", 32)
//!
//! once the caller's SAS nonce N is known (committed in the offer, revealed
//! in the first sealed packets, see `handshake`):
//!   SAS bytes = HKDF-Expand(HKDF-Extract(salt = S, IKM = N), "pqvoice/v1 sas digits", 8)
//! ```
//!
//! The header keys `H` stay the same for the whole call: the key epoch is
//! one of the fields they hide, so the receiver must be able to remove the
//! header protection before it knows which epoch a packet belongs to (as in
//! QUIC, where key updates leave the header protection key alone).
//!
//! The SAS needs both the key schedule and the nonce. Neither side can pick
//! its last contribution knowing the digits it would produce: the callee
//! (or a registry playing callee) fixes its answer before it learns `N`,
//! and the caller fixed `N` in the signed offer before the answer existed.
//!
//! Salting the extract step with the transcript hash binds every key to
//! everything both sides signed: a changed byte anywhere in the offer or
//! answer gives unrelated keys. The per-direction chain secret `C` is the
//! "rekey secret": moving to the next epoch replaces it with a one-way
//! function of itself and erases the old value, so keys of epoch `n` cannot
//! be recomputed from anything kept after the call moved on (forward
//! secrecy inside a call). The two directions have independent chains, so
//! each side rekeys its sending direction without coordination.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Which end of the handshake this side played.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sent the offer.
    Caller,
    /// Sent the answer.
    Callee,
}

impl Role {
    /// The other role.
    pub fn peer(self) -> Role {
        match self {
            Role::Caller => Role::Callee,
            Role::Callee => Role::Caller,
        }
    }
}

const LABEL_CHAIN_CALLER_TO_CALLEE: &[u8] = b"pqvoice/v1 chain caller->callee";
const LABEL_CHAIN_CALLEE_TO_CALLER: &[u8] = b"pqvoice/v1 chain callee->caller";
const LABEL_HEADER_CALLER_TO_CALLEE: &[u8] = b"pqvoice/v1 header key caller->callee";
const LABEL_HEADER_CALLEE_TO_CALLER: &[u8] = b"pqvoice/v1 header key callee->caller";
const LABEL_SAS_KEY: &[u8] = b"pqvoice/v1 sas key";
const LABEL_SAS_DIGITS: &[u8] = b"pqvoice/v1 sas digits";
const LABEL_AEAD_KEY: &[u8] = b"pqvoice/v1 aead key";
const LABEL_AEAD_IV: &[u8] = b"pqvoice/v1 aead iv";
const LABEL_MASK_KEY: &[u8] = b"pqvoice/v1 mask key";
const LABEL_NEXT_EPOCH: &[u8] = b"pqvoice/v1 next epoch";

/// HKDF-Expand into a fixed-size array. Every length used here is far
/// below HKDF-SHA256's 8160-byte limit, so the expansion cannot fail.
fn expand<const N: usize>(hk: &Hkdf<Sha256>, label: &[u8]) -> Zeroizing<[u8; N]> {
    let mut out = Zeroizing::new([0u8; N]);
    hk.expand(label, out.as_mut())
        .expect("output lengths in the key schedule are at most 32 bytes");
    out
}

/// The traffic keys of one direction in one epoch.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct EpochKeys {
    pub(crate) aead_key: [u8; 32],
    pub(crate) iv: [u8; 12],
    pub(crate) mask_key: [u8; 32],
}

/// The secret that one direction's keys hang from, at one epoch.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct ChainSecret {
    secret: [u8; 32],
    epoch: u32,
}

impl ChainSecret {
    fn new(secret: [u8; 32]) -> Self {
        Self { secret, epoch: 0 }
    }

    pub(crate) fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Keys for this chain's current epoch.
    pub(crate) fn keys(&self) -> EpochKeys {
        let hk = Hkdf::<Sha256>::from_prk(&self.secret)
            .expect("a 32-byte chain secret is a valid SHA-256 PRK");
        EpochKeys {
            aead_key: *expand::<32>(&hk, LABEL_AEAD_KEY),
            iv: *expand::<12>(&hk, LABEL_AEAD_IV),
            mask_key: *expand::<32>(&hk, LABEL_MASK_KEY),
        }
    }

    /// The chain one epoch later. `self` is left to be dropped (and so
    /// erased) by the caller once the old epoch's keys are no longer needed.
    pub(crate) fn next(&self) -> ChainSecret {
        let hk = Hkdf::<Sha256>::from_prk(&self.secret)
            .expect("a 32-byte chain secret is a valid SHA-256 PRK");
        ChainSecret {
            secret: *expand::<32>(&hk, LABEL_NEXT_EPOCH),
            epoch: self.epoch.wrapping_add(1),
        }
    }
}

/// Everything the handshake hands to the transport: two chain secrets, the
/// two header protection keys and the key the SAS is derived under.
pub(crate) struct SessionSecrets {
    pub(crate) send: ChainSecret,
    pub(crate) recv: ChainSecret,
    pub(crate) send_header_key: Zeroizing<[u8; 32]>,
    pub(crate) recv_header_key: Zeroizing<[u8; 32]>,
    pub(crate) sas_key: Zeroizing<[u8; 32]>,
}

/// Runs the schedule above for one side of a call.
pub(crate) fn derive(
    role: Role,
    shared_secret: &[u8; 32],
    transcript_hash: &[u8; 32],
) -> SessionSecrets {
    // PRK = HKDF-Extract(salt = TH, IKM = ss)
    let hk = Hkdf::<Sha256>::new(Some(transcript_hash), shared_secret);
    let c2s = ChainSecret::new(*expand::<32>(&hk, LABEL_CHAIN_CALLER_TO_CALLEE));
    let s2c = ChainSecret::new(*expand::<32>(&hk, LABEL_CHAIN_CALLEE_TO_CALLER));
    let h_c2s = expand::<32>(&hk, LABEL_HEADER_CALLER_TO_CALLEE);
    let h_s2c = expand::<32>(&hk, LABEL_HEADER_CALLEE_TO_CALLER);
    let sas_key = expand::<32>(&hk, LABEL_SAS_KEY);
    let (send, recv, send_header_key, recv_header_key) = match role {
        Role::Caller => (c2s, s2c, h_c2s, h_s2c),
        Role::Callee => (s2c, c2s, h_s2c, h_c2s),
    };
    SessionSecrets {
        send,
        recv,
        send_header_key,
        recv_header_key,
        sas_key,
    }
}

/// The short authentication string: six digits that both people read to
/// each other during the call. A man in the middle who managed to run two
/// separate handshakes would, with probability 1 - 10^-6, make the two
/// screens show different digits: the caller's committed nonce keeps it
/// from choosing either leg's digits (see `docs/protocol.md`).
///
/// It is a second line of defence: the handshake is already authenticated
/// by the pinned hybrid identity keys. The SAS catches what pinning cannot,
/// e.g. a key that was substituted before it was first pinned.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sas {
    value: u32,
}

impl Sas {
    /// SAS = HKDF-Expand(HKDF-Extract(salt = S, IKM = N), "sas digits", 8)
    /// reduced to six digits.
    pub(crate) fn derive(sas_key: &[u8; 32], nonce: &[u8; 32]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(sas_key), nonce);
        Self::from_bytes(*expand::<8>(&hk, LABEL_SAS_DIGITS))
    }

    fn from_bytes(bytes: [u8; 8]) -> Self {
        // 64 uniform bits reduced mod 10^6: the bias is below 2^-44.
        let value = (u64::from_be_bytes(bytes) % 1_000_000) as u32;
        Self { value }
    }

    /// The six digits as a number below 1 000 000.
    pub fn value(&self) -> u32 {
        self.value
    }

    /// The digits as shown on screen: two groups of three, e.g. `"042 917"`.
    pub fn to_display_string(&self) -> String {
        format!("{:03} {:03}", self.value / 1000, self.value % 1000)
    }
}

impl core::fmt::Display for Sas {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.to_display_string())
    }
}

impl core::fmt::Debug for Sas {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Sas({})", self.to_display_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_roles_agree_and_directions_differ() {
        let ss = [1u8; 32];
        let th = [2u8; 32];
        let caller = derive(Role::Caller, &ss, &th);
        let callee = derive(Role::Callee, &ss, &th);
        assert_eq!(*caller.sas_key, *callee.sas_key);
        assert_eq!(*caller.send_header_key, *callee.recv_header_key);
        assert_ne!(*caller.send_header_key, *caller.recv_header_key);
        assert_eq!(caller.send.keys().aead_key, callee.recv.keys().aead_key);
        assert_eq!(caller.recv.keys().iv, callee.send.keys().iv);
        assert_ne!(caller.send.keys().aead_key, caller.recv.keys().aead_key);
        assert_ne!(caller.send.keys().mask_key, caller.send.keys().aead_key);
    }

    #[test]
    fn transcript_hash_changes_every_key() {
        let a = derive(Role::Caller, &[1u8; 32], &[2u8; 32]);
        let b = derive(Role::Caller, &[1u8; 32], &[3u8; 32]);
        assert_ne!(a.send.keys().aead_key, b.send.keys().aead_key);
    }

    #[test]
    fn next_epoch_gives_new_keys_and_counts() {
        let s = derive(Role::Caller, &[1u8; 32], &[2u8; 32]);
        let n = s.send.next();
        assert_eq!(n.epoch(), 1);
        assert_ne!(n.keys().aead_key, s.send.keys().aead_key);
        assert_eq!(n.keys().aead_key, s.send.next().keys().aead_key);
    }

    #[test]
    fn sas_depends_on_the_key_and_the_nonce() {
        let sas = Sas::derive(&[1; 32], &[2; 32]);
        assert_eq!(sas, Sas::derive(&[1; 32], &[2; 32]));
        assert_ne!(sas, Sas::derive(&[1; 32], &[3; 32]));
        assert_ne!(sas, Sas::derive(&[4; 32], &[2; 32]));
    }

    #[test]
    fn sas_is_six_digits_in_two_groups() {
        let sas = Sas::from_bytes([0, 0, 0, 0, 0, 0, 0, 42]);
        assert_eq!(sas.to_display_string(), "000 042");
        assert!(Sas::from_bytes([0xFF; 8]).value() < 1_000_000);
    }
}
