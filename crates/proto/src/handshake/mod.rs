//! The per-call handshake: a signed offer, a signed answer, one X-Wing
//! encapsulation.
//!
//! ```text
//! caller                                   registry                callee
//! ------                                   --------                ------
//! (dk, ek) = X-Wing.KeyGen(seed)
//! N      = 32 random bytes (the SAS nonce)
//! C      = SHA-256("pqvoice/sas-commitment/v1" || N)
//! body_o = call id, names, caller key, ek, C, candidates, profile, time
//! Offer  = body_o || Sign_caller("pqvoice/offer/v1", H(body_o))  ───────────►
//!                                              check: version, callee name,
//!                                              caller key == pinned key,
//!                                              signature, age of the offer,
//!                                              call id not seen before
//!                                              (ct, ss) = X-Wing.Encaps(ek)
//!                                    body_a = call id, callee key, ct,
//!                                             candidates, profile, time
//!  ◄─────────── Answer = body_a || Sign_callee("pqvoice/answer/v1",
//!                                              H(body_o) || H(body_a))
//! check: call id, callee key == pinned,
//! signature, profile, age of the answer
//! ss = X-Wing.Decaps(dk, ct); erase dk
//!
//! both: TH = SHA-256("pqvoice/transcript/v1" || H(body_o) || H(body_a))
//!       keys = schedule(ss, TH)          (see the `schedule` module)
//! caller: SAS = schedule.sas(S, N), shown at once
//!
//! media phase, sealed:  SasReveal(N)  ──────────────────────────────────────►
//!   (repeated until acknowledged)            check SHA-256(label || N) == C,
//!                                            else end the call;
//!                                            SAS = schedule.sas(S, N), shown
//!  ◄──────────────────────────────────────────────────────────  SasRevealAck
//! ```
//!
//! **Why the SAS nonce.** A registry that substitutes keys on first contact
//! runs two handshakes, one with each person, and needs both screens to
//! show the same six digits. Were the SAS a function of the transcript
//! only, it could play callee towards the caller and try answer after
//! answer (fresh encapsulations, other timestamps) until that leg's digits
//! matched the other leg's: about 10^6 tries, cheap offline. With the
//! commitment, the caller's digits also depend on `N`, which stays hidden
//! until the answer is fixed, and `N` itself was fixed in the signed offer
//! before any answer existed. So each leg's SAS is a uniform six-digit
//! value that nobody in the middle can steer, and a match happens with
//! probability 10^-6 per attempt, each attempt being a call the two people
//! see. `docs/protocol.md` spells out the argument.
//!
//! The registry carries both messages as opaque blobs. It can drop or delay
//! them, but it cannot forge either signature, and the key it would have to
//! substitute is compared with the key each side pinned earlier. The caller's
//! X-Wing key is fresh per call and its secret half is erased as soon as the
//! shared secret is derived, so a later theft of either identity key does
//! not decrypt a recorded call (forward secrecy). Confidentiality holds if
//! either X25519 or ML-KEM-768 holds; authentication needs both Ed25519 and
//! ML-DSA-65 to be broken before it fails.
//!
//! States are types, named for what they wait for:
//! [`ExpectAnswer`] (caller after sending the offer), [`VerifiedOffer`]
//! (callee, ringing), and [`Established`], the only thing a
//! [`crate::session::CallSession`] can be built from.

mod answer;
mod caller;
mod candidate;
mod offer;
mod profile;
mod seen;

use sha2::{Digest as _, Sha256};

pub use answer::{Answer, VerifiedOffer};
pub use caller::{AnswerRejected, Established, ExpectAnswer};
pub use candidate::{Candidate, CandidateKind, MAX_PRIORITY, pair_priority};
pub use offer::{Offer, OfferParams, OfferPolicy};
pub use profile::{Codec, MediaProfile};
pub use seen::SeenOffers;

use crate::identity::{
    HYBRID_SIGNATURE_ENCODED_LEN, HybridSignature, PUBLIC_IDENTITY_ENCODED_LEN, PublicIdentity,
};
use crate::signaling::Username;
use crate::time::UnixTime;
use crate::wire::Reader;
use crate::xwing::{CIPHERTEXT_LEN as CIPHERTEXT_SIZE, PUBLIC_KEY_LEN as ENCAPSULATION_KEY_SIZE};

/// Version byte that starts an offer and an answer.
pub const HANDSHAKE_VERSION: u8 = 3;
/// Domain under which the caller signs the offer.
pub const OFFER_DOMAIN: &[u8] = b"pqvoice/offer/v1";
/// Domain under which the callee signs the answer.
pub const ANSWER_DOMAIN: &[u8] = b"pqvoice/answer/v1";
/// Length of a call id.
pub const CALL_ID_LEN: usize = 16;
/// Length of the caller's SAS nonce and of its commitment in the offer.
pub const SAS_NONCE_LEN: usize = 32;
/// Most candidates one side may list.
pub const MAX_CANDIDATES: usize = 16;
/// Longest username accepted inside an offer, in bytes: the registry's
/// limit, since names in offers follow its rule ([`Username::check`]).
pub const MAX_USERNAME_LEN: usize = crate::signaling::USERNAME_MAX_LEN;
/// Upper bound of an encoded offer (with the maximum names and candidates).
pub const MAX_OFFER_LEN: usize = 2
    + CALL_ID_LEN
    + 2 * (1 + MAX_USERNAME_LEN)
    + PUBLIC_IDENTITY_ENCODED_LEN
    + ENCAPSULATION_KEY_SIZE
    + SAS_NONCE_LEN
    + 1
    + MAX_CANDIDATES * Candidate::MAX_ENCODED_LEN
    + MediaProfile::ENCODED_LEN
    + 8
    + HYBRID_SIGNATURE_ENCODED_LEN;
/// Upper bound of an encoded answer.
pub const MAX_ANSWER_LEN: usize = 2
    + CALL_ID_LEN
    + PUBLIC_IDENTITY_ENCODED_LEN
    + CIPHERTEXT_SIZE
    + 1
    + MAX_CANDIDATES * Candidate::MAX_ENCODED_LEN
    + MediaProfile::ENCODED_LEN
    + 8
    + HYBRID_SIGNATURE_ENCODED_LEN;

/// Version byte and kind byte that start every offer and answer.
const HEADER_LEN: usize = 2;
const KIND_OFFER: u8 = b'O';
const KIND_ANSWER: u8 = b'A';
const OFFER_HASH_LABEL: &[u8] = b"pqvoice/offer-hash/v1";
const ANSWER_HASH_LABEL: &[u8] = b"pqvoice/answer-hash/v1";
const TRANSCRIPT_LABEL: &[u8] = b"pqvoice/transcript/v1";
const SAS_COMMITMENT_LABEL: &[u8] = b"pqvoice/sas-commitment/v1";
const ENCAPSULATION_RNG_LABEL: &[u8] = b"pqvoice/encapsulation-rng/v1";

/// Why a handshake message was refused. Every check has its own kind, so
/// the engine can tell the user *why* a call did not connect (and tests
/// can tell that the right check fired). Peer misbehaviour only; there is
/// no API-misuse variant because the types make misuse impossible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The bytes do not parse as the expected message.
    #[error("malformed handshake message: {0}")]
    Malformed(&'static str),
    /// The message starts with a version this build does not speak.
    #[error("unsupported handshake version {0}")]
    UnsupportedVersion(u8),
    /// The offer is addressed to another user.
    #[error("offer is addressed to another user")]
    WrongCallee,
    /// The identity key in the message is not the key pinned for that
    /// user: a substituted key (e.g. by the registry) or a changed device.
    #[error("identity key differs from the pinned key")]
    PinnedKeyMismatch,
    /// The hybrid signature does not verify under the sender's key.
    #[error("handshake signature is invalid")]
    BadSignature,
    /// The offer is older than the freshness window allows.
    #[error("offer is too old")]
    OfferExpired,
    /// The offer is dated further in the future than clock skew explains.
    #[error("offer is dated in the future")]
    OfferFromFuture,
    /// The answer is older than the freshness window allows (a stale or
    /// replayed answer).
    #[error("answer is too old")]
    AnswerExpired,
    /// The answer is dated further in the future than clock skew explains.
    #[error("answer is dated in the future")]
    AnswerFromFuture,
    /// An offer with this call id was already accepted or refused.
    #[error("offer was already seen (replay)")]
    ReplayedOffer,
    /// The answer belongs to another call.
    #[error("answer is for another call")]
    CallIdMismatch,
    /// The answer's media profile is not the one that was offered.
    #[error("answer's media profile does not match the offer")]
    ProfileMismatch,
    /// The X-Wing ciphertext was refused during decapsulation.
    #[error("key exchange failed")]
    KeyExchangeFailed,
}

/// A random 16-byte call identifier chosen by the caller and signed into
/// the offer and the answer. Not the registry's id for the same call
/// ([`crate::signaling::CallId`]), which the registry draws on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandshakeCallId(pub [u8; CALL_ID_LEN]);

impl HandshakeCallId {
    /// Lowercase hex, as used in the registry's URLs.
    pub fn to_hex(&self) -> String {
        crate::hex::encode(&self.0)
    }
}

fn decode_username(r: &mut Reader<'_>) -> Result<String, HandshakeError> {
    let raw = r
        .short_bytes()
        .ok_or(HandshakeError::Malformed("truncated username"))?;
    let name =
        core::str::from_utf8(raw).map_err(|_| HandshakeError::Malformed("username not UTF-8"))?;
    check_username(name)?;
    Ok(name.to_owned())
}

/// One username rule for the registry and the handshake: a name the
/// registry would refuse never appears in a valid offer either.
fn check_username(name: &str) -> Result<(), HandshakeError> {
    Username::check(name).map_err(|_| HandshakeError::Malformed("username"))
}

fn labelled_hash(label: &[u8], body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(label);
    h.update(body);
    h.finalize().into()
}

/// Splits `bytes` into (body, signature) and checks the header bytes.
///
/// The body is what the signature covers, header included. The header
/// bytes are read from `bytes`, and a message that is only a signature
/// long would pass that check with an empty body, so the body itself must
/// be long enough to hold the header: callers then parse
/// [`fields_after_header`] and never slice past the end.
fn split_signed(bytes: &[u8], kind: u8) -> Result<(&[u8], HybridSignature), HandshakeError> {
    match bytes.first() {
        None => return Err(HandshakeError::Malformed("empty message")),
        Some(&v) if v != HANDSHAKE_VERSION => return Err(HandshakeError::UnsupportedVersion(v)),
        Some(_) => {}
    }
    if bytes.get(1) != Some(&kind) {
        return Err(HandshakeError::Malformed("wrong message kind"));
    }
    let body_len = bytes
        .len()
        .checked_sub(HYBRID_SIGNATURE_ENCODED_LEN)
        .ok_or(HandshakeError::Malformed("too short"))?;
    if body_len < HEADER_LEN {
        return Err(HandshakeError::Malformed("too short"));
    }
    let (body, sig) = bytes.split_at(body_len);
    let sig =
        HybridSignature::from_bytes(sig).map_err(|_| HandshakeError::Malformed("signature"))?;
    Ok((body, sig))
}

/// The signed fields that follow the version and kind bytes.
fn fields_after_header(body: &[u8]) -> Result<&[u8], HandshakeError> {
    body.get(HEADER_LEN..)
        .ok_or(HandshakeError::Malformed("too short"))
}

/// The opening both signed messages share, parsed: the signed body, its
/// signature, the call id, and a reader over the fields after it.
struct SignedFields<'a> {
    body: &'a [u8],
    signature: HybridSignature,
    call_id: HandshakeCallId,
    fields: Reader<'a>,
}

/// Caps the length at `max_len` before looking inside (`too_long` names
/// which message overflowed), then splits off the signature, checks the
/// header and reads the call id.
fn open_signed<'a>(
    bytes: &'a [u8],
    kind: u8,
    max_len: usize,
    too_long: &'static str,
) -> Result<SignedFields<'a>, HandshakeError> {
    if bytes.len() > max_len {
        return Err(HandshakeError::Malformed(too_long));
    }
    let (body, signature) = split_signed(bytes, kind)?;
    let mut fields = Reader::new(fields_after_header(body)?);
    let call_id = HandshakeCallId(
        fields
            .array()
            .ok_or(HandshakeError::Malformed("truncated call id"))?,
    );
    Ok(SignedFields {
        body,
        signature,
        call_id,
        fields,
    })
}

/// The sender's public identity, as both messages carry it.
fn decode_identity(r: &mut Reader<'_>) -> Result<PublicIdentity, HandshakeError> {
    let id_bytes = r
        .bytes(PUBLIC_IDENTITY_ENCODED_LEN)
        .ok_or(HandshakeError::Malformed("truncated identity"))?;
    PublicIdentity::from_bytes(id_bytes).map_err(|_| HandshakeError::Malformed("identity key"))
}

/// The fields both messages end with: media candidates, the media
/// profile and the creation time. Nothing may follow them.
fn decode_tail(
    mut r: Reader<'_>,
) -> Result<(Vec<Candidate>, MediaProfile, UnixTime), HandshakeError> {
    let candidates = candidate::decode_candidates(&mut r)?;
    let profile = MediaProfile::decode(&mut r)?;
    let created_at = UnixTime::from_secs(
        r.u64()
            .ok_or(HandshakeError::Malformed("truncated timestamp"))?,
    );
    if r.remaining() != 0 {
        return Err(HandshakeError::Malformed("trailing bytes"));
    }
    Ok((candidates, profile, created_at))
}

fn answer_signed_message(offer_hash: &[u8; 32], answer_hash: &[u8; 32]) -> [u8; 64] {
    let mut m = [0u8; 64];
    m[..32].copy_from_slice(offer_hash);
    m[32..].copy_from_slice(answer_hash);
    m
}

/// C = SHA-256("pqvoice/sas-commitment/v1" || N)
pub(crate) fn sas_commitment(nonce: &[u8; SAS_NONCE_LEN]) -> [u8; SAS_NONCE_LEN] {
    labelled_hash(SAS_COMMITMENT_LABEL, nonce)
}

fn transcript_hash(offer_hash: &[u8; 32], answer_hash: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(TRANSCRIPT_LABEL);
    h.update(offer_hash);
    h.update(answer_hash);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::IdentityKeyPair;
    use crate::time::UnixTime;
    use core::net::SocketAddr;

    #[test]
    fn largest_offer_and_answer_match_the_declared_bounds() {
        let a = IdentityKeyPair::from_seed(&[1; 32]);
        let b = IdentityKeyPair::from_seed(&[2; 32]);
        let v6: SocketAddr = "[2001:db8::1]:5000".parse().expect("literal");
        // IPv6 candidates are the longest; distinct ports, since a list may
        // not repeat a (kind, address).
        let longest = |n: usize| -> Vec<Candidate> {
            (0..n)
                .map(|i| {
                    let addr = SocketAddr::new(v6.ip(), 5000 + i as u16);
                    Candidate::new(CandidateKind::Relayed, addr, i as u16)
                })
                .collect()
        };
        let params = OfferParams {
            call_id: HandshakeCallId([0; CALL_ID_LEN]),
            caller: "a".repeat(MAX_USERNAME_LEN),
            callee: "b".repeat(MAX_USERNAME_LEN),
            candidates: longest(MAX_CANDIDATES),
            profile: MediaProfile::DEFAULT,
        };
        let now = UnixTime::from_secs(1);
        let (_, offer) = ExpectAnswer::start(
            &a,
            params.clone(),
            b.public().clone(),
            [3; 32],
            [5; 32],
            now,
        )
        .expect("largest valid offer");
        assert_eq!(offer.to_bytes().len(), MAX_OFFER_LEN);
        let verified = offer
            .verify(a.public(), &params.callee, now, &OfferPolicy::default())
            .expect("verifies");
        let (answer, _) = verified
            .accept(&b, longest(MAX_CANDIDATES), [4; 32], now)
            .expect("accept");
        assert_eq!(answer.to_bytes().len(), MAX_ANSWER_LEN);

        let mut too_many = params;
        too_many.candidates = longest(MAX_CANDIDATES + 1);
        assert!(
            ExpectAnswer::start(&a, too_many, b.public().clone(), [3; 32], [5; 32], now).is_err()
        );
    }
}
