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

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::time::Duration;
use std::collections::VecDeque;

use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::identity::{
    HYBRID_SIGNATURE_ENCODED_LEN, HybridSignature, IdentityKeyPair, PUBLIC_IDENTITY_ENCODED_LEN,
    PublicIdentity,
};
use crate::schedule::{self, Role, Sas, SessionSecrets};
use crate::signaling::Username;
use crate::time::UnixTime;
use crate::wire::Reader;
use crate::xwing::{
    CIPHERTEXT_LEN as CIPHERTEXT_SIZE, PUBLIC_KEY_LEN as ENCAPSULATION_KEY_SIZE, PublicKeyXWing,
    SecretKeyXWing,
};

/// Version byte that starts an offer and an answer.
pub const HANDSHAKE_VERSION: u8 = 2;
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
    + MAX_CANDIDATES * 19
    + MediaProfile::ENCODED_LEN
    + 8
    + HYBRID_SIGNATURE_ENCODED_LEN;
/// Upper bound of an encoded answer.
pub const MAX_ANSWER_LEN: usize = 2
    + CALL_ID_LEN
    + PUBLIC_IDENTITY_ENCODED_LEN
    + CIPHERTEXT_SIZE
    + 1
    + MAX_CANDIDATES * 19
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

/// The audio codec carried in media packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// Opus at 48 kHz.
    Opus,
}

/// How media flows in one call. The packet length is fixed for the whole
/// call and never depends on what is said (see the `packet` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MediaProfile {
    /// Codec of the frames.
    pub codec: Codec,
    /// Duration of one frame, and the interval between media packets.
    pub frame_ms: u8,
    /// Length of every packet on the wire, header and tag included.
    pub packet_len: u16,
    /// How many earlier frames each packet repeats for loss recovery.
    pub redundancy: u8,
}

impl MediaProfile {
    /// Encoded length inside an offer or answer.
    pub const ENCODED_LEN: usize = 5;

    /// A profile that suits Opus voice at up to ~32 kbit/s with one
    /// redundant frame: 20 ms frames in 240-byte packets.
    pub const DEFAULT: MediaProfile = MediaProfile {
        codec: Codec::Opus,
        frame_ms: 20,
        packet_len: 240,
        redundancy: 1,
    };

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(match self.codec {
            Codec::Opus => 1,
        });
        out.push(self.frame_ms);
        out.extend_from_slice(&self.packet_len.to_be_bytes());
        out.push(self.redundancy);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, HandshakeError> {
        let codec = match r.u8() {
            Some(1) => Codec::Opus,
            Some(_) => return Err(HandshakeError::Malformed("unknown codec")),
            None => return Err(HandshakeError::Malformed("truncated profile")),
        };
        let frame_ms = r
            .u8()
            .ok_or(HandshakeError::Malformed("truncated profile"))?;
        let packet_len = r
            .u16()
            .ok_or(HandshakeError::Malformed("truncated profile"))?;
        let redundancy = r
            .u8()
            .ok_or(HandshakeError::Malformed("truncated profile"))?;
        let profile = Self {
            codec,
            frame_ms,
            packet_len,
            redundancy,
        };
        profile
            .validate()
            .map_err(|_| HandshakeError::Malformed("media profile out of range"))?;
        Ok(profile)
    }

    /// Checks that the values are in the ranges the packet layer supports.
    pub fn validate(&self) -> Result<(), &'static str> {
        if !matches!(self.frame_ms, 10 | 20 | 40 | 60) {
            return Err("frame duration must be 10, 20, 40 or 60 ms");
        }
        let len = usize::from(self.packet_len);
        if !(crate::packet::MIN_PACKET_LEN..=crate::packet::MAX_PACKET_LEN).contains(&len) {
            return Err("packet length out of range");
        }
        if self.redundancy > 4 {
            return Err("at most 4 redundant frames");
        }
        Ok(())
    }

    /// Interval between media packets.
    pub fn frame_interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.frame_ms))
    }
}

fn encode_candidates(cands: &[SocketAddr], out: &mut Vec<u8>) {
    // The constructors cap the list at MAX_CANDIDATES, which fits in a u8.
    out.push(cands.len() as u8);
    for c in cands {
        match c.ip() {
            IpAddr::V4(ip) => {
                out.push(4);
                out.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                out.push(6);
                out.extend_from_slice(&ip.octets());
            }
        }
        out.extend_from_slice(&c.port().to_be_bytes());
    }
}

fn decode_candidates(r: &mut Reader<'_>) -> Result<Vec<SocketAddr>, HandshakeError> {
    const TRUNC: HandshakeError = HandshakeError::Malformed("truncated candidates");
    let n = usize::from(r.u8().ok_or(TRUNC)?);
    if n > MAX_CANDIDATES {
        return Err(HandshakeError::Malformed("too many candidates"));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let ip = match r.u8().ok_or(TRUNC)? {
            4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>().ok_or(TRUNC)?)),
            6 => IpAddr::V6(Ipv6Addr::from(r.array::<16>().ok_or(TRUNC)?)),
            _ => return Err(HandshakeError::Malformed("unknown address family")),
        };
        let port = r.u16().ok_or(TRUNC)?;
        out.push(SocketAddr::new(ip, port));
    }
    Ok(out)
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

fn check_candidates(cands: &[SocketAddr]) -> Result<(), HandshakeError> {
    if cands.len() > MAX_CANDIDATES {
        return Err(HandshakeError::Malformed("too many candidates"));
    }
    Ok(())
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

/// What the caller puts into an offer besides keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferParams {
    /// Random id of this call (the engine draws it from OS randomness).
    pub call_id: HandshakeCallId,
    /// The caller's username.
    pub caller: String,
    /// The callee's username.
    pub callee: String,
    /// UDP addresses on which the caller accepts media.
    pub candidates: Vec<SocketAddr>,
    /// Media profile of the call.
    pub profile: MediaProfile,
}

/// The caller's signed offer.
#[derive(Clone, PartialEq, Eq)]
pub struct Offer {
    call_id: HandshakeCallId,
    caller: String,
    callee: String,
    caller_identity: PublicIdentity,
    /// Parsed and checked once, when the offer is decoded or made.
    ephemeral_key: Box<PublicKeyXWing>,
    sas_commitment: [u8; SAS_NONCE_LEN],
    candidates: Vec<SocketAddr>,
    profile: MediaProfile,
    created_at: UnixTime,
    signature: HybridSignature,
    /// The signed bytes, kept so that hashing never re-encodes.
    body: Vec<u8>,
}

impl core::fmt::Debug for Offer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Offer")
            .field("call_id", &self.call_id.to_hex())
            .field("caller", &self.caller)
            .field("callee", &self.callee)
            .field("caller_identity", &self.caller_identity)
            .field("candidates", &self.candidates)
            .field("profile", &self.profile)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl Offer {
    fn encode_body(
        params: &OfferParams,
        identity: &PublicIdentity,
        ek: &[u8; ENCAPSULATION_KEY_SIZE],
        sas_commitment: &[u8; SAS_NONCE_LEN],
        created_at: UnixTime,
    ) -> Vec<u8> {
        let mut b = Vec::with_capacity(MAX_OFFER_LEN);
        b.push(HANDSHAKE_VERSION);
        b.push(KIND_OFFER);
        b.extend_from_slice(&params.call_id.0);
        // Lengths were checked against MAX_USERNAME_LEN (< 256) by the caller.
        b.push(params.caller.len() as u8);
        b.extend_from_slice(params.caller.as_bytes());
        b.push(params.callee.len() as u8);
        b.extend_from_slice(params.callee.as_bytes());
        b.extend_from_slice(identity.as_bytes());
        b.extend_from_slice(ek);
        b.extend_from_slice(sas_commitment);
        encode_candidates(&params.candidates, &mut b);
        params.profile.encode(&mut b);
        b.extend_from_slice(&created_at.as_secs().to_be_bytes());
        b
    }

    /// The encoding that travels through the registry.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.body.clone();
        out.extend_from_slice(&self.signature.to_bytes());
        out
    }

    /// Parses an offer. This checks only the format; the signature, names,
    /// pinned key and age are checked by [`Offer::verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HandshakeError> {
        if bytes.len() > MAX_OFFER_LEN {
            return Err(HandshakeError::Malformed("offer too long"));
        }
        let (body, signature) = split_signed(bytes, KIND_OFFER)?;
        let mut r = Reader::new(fields_after_header(body)?);
        let call_id = HandshakeCallId(
            r.array()
                .ok_or(HandshakeError::Malformed("truncated call id"))?,
        );
        let caller = decode_username(&mut r)?;
        let callee = decode_username(&mut r)?;
        let id_bytes = r
            .bytes(PUBLIC_IDENTITY_ENCODED_LEN)
            .ok_or(HandshakeError::Malformed("truncated identity"))?;
        let caller_identity = PublicIdentity::from_bytes(id_bytes)
            .map_err(|_| HandshakeError::Malformed("identity key"))?;
        let ephemeral_key: [u8; ENCAPSULATION_KEY_SIZE] = r
            .array()
            .ok_or(HandshakeError::Malformed("truncated ephemeral key"))?;
        let ephemeral_key = PublicKeyXWing::from_bytes(&ephemeral_key)
            .map_err(|_| HandshakeError::Malformed("ephemeral key"))?;
        let sas_commitment: [u8; SAS_NONCE_LEN] = r
            .array()
            .ok_or(HandshakeError::Malformed("truncated SAS commitment"))?;
        let candidates = decode_candidates(&mut r)?;
        let profile = MediaProfile::decode(&mut r)?;
        let created_at = UnixTime::from_secs(
            r.u64()
                .ok_or(HandshakeError::Malformed("truncated timestamp"))?,
        );
        if r.remaining() != 0 {
            return Err(HandshakeError::Malformed("trailing bytes"));
        }
        Ok(Self {
            call_id,
            caller,
            callee,
            caller_identity,
            ephemeral_key: Box::new(ephemeral_key),
            sas_commitment,
            candidates,
            profile,
            created_at,
            signature,
            body: body.to_vec(),
        })
    }

    /// The call id.
    pub fn call_id(&self) -> HandshakeCallId {
        self.call_id
    }
    /// The caller's username: look up the pinned key under this name.
    pub fn caller(&self) -> &str {
        &self.caller
    }
    /// The callee's username.
    pub fn callee(&self) -> &str {
        &self.callee
    }
    /// The identity key the offer claims to be signed with.
    pub fn caller_identity(&self) -> &PublicIdentity {
        &self.caller_identity
    }
    /// The caller's media candidates.
    pub fn candidates(&self) -> &[SocketAddr] {
        &self.candidates
    }
    /// The offered media profile.
    pub fn profile(&self) -> &MediaProfile {
        &self.profile
    }
    /// When the caller made the offer (the caller's clock).
    pub fn created_at(&self) -> UnixTime {
        self.created_at
    }
    /// The caller's commitment to its SAS nonce.
    pub fn sas_commitment(&self) -> &[u8; SAS_NONCE_LEN] {
        &self.sas_commitment
    }

    fn hash(&self) -> [u8; 32] {
        labelled_hash(OFFER_HASH_LABEL, &self.body)
    }

    /// The callee's checks, in this order, each with its own error:
    /// callee name ([`HandshakeError::WrongCallee`]), key equals the pinned
    /// key ([`HandshakeError::PinnedKeyMismatch`]), signature
    /// ([`HandshakeError::BadSignature`]), age
    /// ([`HandshakeError::OfferExpired`], [`HandshakeError::OfferFromFuture`]).
    ///
    /// `pinned_caller` is the key this device pinned for
    /// [`Offer::caller`]; on first contact, the key just fetched from the
    /// registry. Replays within the window are caught by [`SeenOffers`].
    pub fn verify(
        self,
        pinned_caller: &PublicIdentity,
        my_username: &str,
        now: UnixTime,
        policy: &OfferPolicy,
    ) -> Result<VerifiedOffer, HandshakeError> {
        if self.callee != my_username {
            return Err(HandshakeError::WrongCallee);
        }
        if &self.caller_identity != pinned_caller {
            return Err(HandshakeError::PinnedKeyMismatch);
        }
        pinned_caller
            .verify(OFFER_DOMAIN, &self.hash(), &self.signature)
            .map_err(|_| HandshakeError::BadSignature)?;
        match policy.check(self.created_at, now) {
            Freshness::Fresh => Ok(VerifiedOffer { offer: self }),
            Freshness::FromFuture => Err(HandshakeError::OfferFromFuture),
            Freshness::Expired => Err(HandshakeError::OfferExpired),
        }
    }
}

/// Where a message's `created_at` falls against the policy's window.
enum Freshness {
    Fresh,
    FromFuture,
    Expired,
}

/// How old an offer may be. The window must cover the time the callee's
/// phone rings before the user accepts, since the offer is checked when it
/// arrives. The caller holds the answer to the same window (its age on the
/// caller's clock when it arrives), so an answer recorded earlier cannot be
/// played back late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferPolicy {
    /// Oldest acceptable offer, measured on the callee's clock.
    pub max_age: Duration,
    /// How far in the future an offer may be dated (clock skew).
    pub max_clock_skew: Duration,
}

impl OfferPolicy {
    fn check(&self, created_at: UnixTime, now: UnixTime) -> Freshness {
        let created = created_at.as_secs();
        let now = now.as_secs();
        if created > now.saturating_add(self.max_clock_skew.as_secs()) {
            Freshness::FromFuture
        } else if now.saturating_sub(created) > self.max_age.as_secs() {
            Freshness::Expired
        } else {
            Freshness::Fresh
        }
    }
}

impl Default for OfferPolicy {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(120),
            max_clock_skew: Duration::from_secs(30),
        }
    }
}

/// Call ids of offers seen recently, to refuse a replayed offer that is
/// still inside the freshness window. Entries older than the window are
/// forgotten: by then [`Offer::verify`] refuses the offer as expired.
#[derive(Debug, Default, Clone)]
pub struct SeenOffers {
    entries: VecDeque<(HandshakeCallId, UnixTime)>,
}

impl SeenOffers {
    /// Most call ids remembered at once; the oldest is forgotten first.
    pub const CAPACITY: usize = 4096;

    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the offer's call id, or refuses it if it was seen before.
    /// Call this after [`Offer::verify`] succeeded (so that unauthenticated
    /// garbage cannot fill the set).
    pub fn check_and_insert(
        &mut self,
        offer: &VerifiedOffer,
        now: UnixTime,
        policy: &OfferPolicy,
    ) -> Result<(), HandshakeError> {
        let horizon = policy.max_age + policy.max_clock_skew;
        while let Some(&(_, seen)) = self.entries.front() {
            if now.as_secs().saturating_sub(seen.as_secs()) > horizon.as_secs()
                || self.entries.len() >= Self::CAPACITY
            {
                self.entries.pop_front();
            } else {
                break;
            }
        }
        let id = offer.offer.call_id;
        if self.entries.iter().any(|(seen, _)| *seen == id) {
            return Err(HandshakeError::ReplayedOffer);
        }
        self.entries.push_back((id, now));
        Ok(())
    }

    /// The remembered call ids with the time each was seen, oldest first,
    /// so that a client can keep them across a restart.
    pub fn entries(&self) -> impl Iterator<Item = (HandshakeCallId, UnixTime)> + '_ {
        self.entries.iter().copied()
    }

    /// Rebuilds the set from [`SeenOffers::entries`] saved earlier. Ids
    /// already outside the window at `now` are dropped, and at most
    /// [`SeenOffers::CAPACITY`] of the newest are kept, so a stored list
    /// cannot grow the set beyond what [`SeenOffers::check_and_insert`]
    /// would hold.
    pub fn restore(
        saved: impl IntoIterator<Item = (HandshakeCallId, UnixTime)>,
        now: UnixTime,
        policy: &OfferPolicy,
    ) -> Self {
        let horizon = (policy.max_age + policy.max_clock_skew).as_secs();
        let mut entries: Vec<(HandshakeCallId, UnixTime)> = saved
            .into_iter()
            .filter(|(_, seen)| now.as_secs().saturating_sub(seen.as_secs()) <= horizon)
            .collect();
        entries.sort_by_key(|(_, seen)| seen.as_secs());
        let excess = entries.len().saturating_sub(Self::CAPACITY);
        Self {
            entries: entries.into_iter().skip(excess).collect(),
        }
    }
}

/// The 64 random bytes of one X-Wing encapsulation, from the callee's 32-byte
/// seed: block `i` is SHA-256(label || seed || u64_be(i)).
fn expand_encapsulation_seed(seed: &[u8; 32]) -> Zeroizing<[u8; 64]> {
    let mut out = Zeroizing::new([0u8; 64]);
    for (counter, chunk) in out.chunks_mut(32).enumerate() {
        let mut h = Sha256::new();
        h.update(ENCAPSULATION_RNG_LABEL);
        h.update(seed);
        h.update((counter as u64).to_be_bytes());
        let mut block: [u8; 32] = h.finalize().into();
        chunk.copy_from_slice(&block);
        block.zeroize();
    }
    out
}

/// An offer whose sender, addressee, signature and age were checked: the
/// callee's phone may ring.
#[derive(Debug, Clone)]
pub struct VerifiedOffer {
    offer: Offer,
}

impl VerifiedOffer {
    /// The checked offer.
    pub fn offer(&self) -> &Offer {
        &self.offer
    }

    /// Accepts the call: encapsulates to the caller's ephemeral key, signs
    /// the answer and derives the call keys.
    ///
    /// `encapsulation_seed` must be 32 fresh random bytes from the OS; it is
    /// the callee's only per-call randomness.
    pub fn accept(
        self,
        identity: &IdentityKeyPair,
        candidates: Vec<SocketAddr>,
        encapsulation_seed: [u8; 32],
        now: UnixTime,
    ) -> Result<(Answer, Established), HandshakeError> {
        check_candidates(&candidates)?;
        let offer = self.offer;
        let mut seed = Zeroizing::new(encapsulation_seed);
        let randomness = expand_encapsulation_seed(&seed);
        seed.zeroize();
        // (ct, ss) = X-Wing.Encaps(ek)
        let (ciphertext, mut ss) = offer
            .ephemeral_key
            .encapsulate(&randomness)
            .map_err(|_| HandshakeError::Malformed("ephemeral key"))?;

        let profile = offer.profile;
        let body = Answer::encode_body(
            &offer.call_id,
            identity.public(),
            &ciphertext,
            &candidates,
            &profile,
            now,
        );
        let offer_hash = offer.hash();
        let answer_hash = labelled_hash(ANSWER_HASH_LABEL, &body);
        let signature = identity.sign(
            ANSWER_DOMAIN,
            &answer_signed_message(&offer_hash, &answer_hash),
        );
        let answer = Answer {
            call_id: offer.call_id,
            callee_identity: identity.public().clone(),
            ciphertext: Box::new(ciphertext),
            candidates: candidates.clone(),
            profile,
            created_at: now,
            signature,
            body,
        };
        let th = transcript_hash(&offer_hash, &answer_hash);
        let secrets = schedule::derive(Role::Callee, &ss, &th);
        ss.zeroize();
        let established = Established {
            role: Role::Callee,
            call_id: offer.call_id,
            peer_username: offer.caller,
            peer_identity: offer.caller_identity,
            peer_candidates: offer.candidates,
            profile,
            transcript_hash: th,
            sas_commitment: offer.sas_commitment,
            sas_nonce: None,
            secrets,
        };
        Ok((answer, established))
    }
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

/// The callee's signed answer.
#[derive(Clone, PartialEq, Eq)]
pub struct Answer {
    call_id: HandshakeCallId,
    callee_identity: PublicIdentity,
    ciphertext: Box<[u8; CIPHERTEXT_SIZE]>,
    candidates: Vec<SocketAddr>,
    profile: MediaProfile,
    created_at: UnixTime,
    signature: HybridSignature,
    body: Vec<u8>,
}

impl core::fmt::Debug for Answer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Answer")
            .field("call_id", &self.call_id.to_hex())
            .field("callee_identity", &self.callee_identity)
            .field("candidates", &self.candidates)
            .field("profile", &self.profile)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl Answer {
    fn encode_body(
        call_id: &HandshakeCallId,
        identity: &PublicIdentity,
        ciphertext: &[u8; CIPHERTEXT_SIZE],
        candidates: &[SocketAddr],
        profile: &MediaProfile,
        created_at: UnixTime,
    ) -> Vec<u8> {
        let mut b = Vec::with_capacity(MAX_ANSWER_LEN);
        b.push(HANDSHAKE_VERSION);
        b.push(KIND_ANSWER);
        b.extend_from_slice(&call_id.0);
        b.extend_from_slice(identity.as_bytes());
        b.extend_from_slice(ciphertext);
        encode_candidates(candidates, &mut b);
        profile.encode(&mut b);
        b.extend_from_slice(&created_at.as_secs().to_be_bytes());
        b
    }

    /// The encoding that travels through the registry.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.body.clone();
        out.extend_from_slice(&self.signature.to_bytes());
        out
    }

    /// Parses an answer (format only; [`ExpectAnswer::handle_answer`]
    /// checks the rest).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HandshakeError> {
        if bytes.len() > MAX_ANSWER_LEN {
            return Err(HandshakeError::Malformed("answer too long"));
        }
        let (body, signature) = split_signed(bytes, KIND_ANSWER)?;
        let mut r = Reader::new(fields_after_header(body)?);
        let call_id = HandshakeCallId(
            r.array()
                .ok_or(HandshakeError::Malformed("truncated call id"))?,
        );
        let id_bytes = r
            .bytes(PUBLIC_IDENTITY_ENCODED_LEN)
            .ok_or(HandshakeError::Malformed("truncated identity"))?;
        let callee_identity = PublicIdentity::from_bytes(id_bytes)
            .map_err(|_| HandshakeError::Malformed("identity key"))?;
        let ciphertext: [u8; CIPHERTEXT_SIZE] = r
            .array()
            .ok_or(HandshakeError::Malformed("truncated ciphertext"))?;
        let candidates = decode_candidates(&mut r)?;
        let profile = MediaProfile::decode(&mut r)?;
        let created_at = UnixTime::from_secs(
            r.u64()
                .ok_or(HandshakeError::Malformed("truncated timestamp"))?,
        );
        if r.remaining() != 0 {
            return Err(HandshakeError::Malformed("trailing bytes"));
        }
        Ok(Self {
            call_id,
            callee_identity,
            ciphertext: Box::new(ciphertext),
            candidates,
            profile,
            created_at,
            signature,
            body: body.to_vec(),
        })
    }

    /// The call this answer belongs to.
    pub fn call_id(&self) -> HandshakeCallId {
        self.call_id
    }
    /// The identity key the answer claims to be signed with.
    pub fn callee_identity(&self) -> &PublicIdentity {
        &self.callee_identity
    }
    /// The callee's media candidates.
    pub fn candidates(&self) -> &[SocketAddr] {
        &self.candidates
    }
    /// The media profile the callee accepted.
    pub fn profile(&self) -> &MediaProfile {
        &self.profile
    }
    /// When the callee made the answer (the callee's clock).
    pub fn created_at(&self) -> UnixTime {
        self.created_at
    }
}

/// The caller's state after sending an offer: waiting for the answer.
/// Holds the ephemeral X-Wing secret, which is erased when this value is
/// consumed or dropped.
pub struct ExpectAnswer {
    /// Boxed: the expanded ML-KEM key pair is ~3.6 KB, and this state sits
    /// in callers' enums while the phone rings.
    decapsulation_key: Box<SecretKeyXWing>,
    /// Stays secret until the media phase reveals it.
    sas_nonce: Zeroizing<[u8; SAS_NONCE_LEN]>,
    offer: Offer,
    callee_pinned: PublicIdentity,
}

impl core::fmt::Debug for ExpectAnswer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ExpectAnswer")
            .field("offer", &self.offer)
            .finish_non_exhaustive()
    }
}

/// A refused answer, handed back with the unchanged state so that the
/// caller can keep waiting for the genuine answer.
#[derive(Debug)]
pub struct AnswerRejected {
    /// Why the answer was refused.
    pub error: HandshakeError,
    /// The caller's state, still waiting.
    pub state: Box<ExpectAnswer>,
}

impl ExpectAnswer {
    /// Starts a call: makes a fresh X-Wing key pair from
    /// `ephemeral_seed` (32 fresh random bytes from the OS), commits to
    /// `sas_nonce` (another 32 fresh random bytes, drawn separately) and
    /// signs the offer. `callee_pinned` is the key this device pinned for
    /// the callee; the answer must be signed by it.
    pub fn start(
        identity: &IdentityKeyPair,
        params: OfferParams,
        callee_pinned: PublicIdentity,
        ephemeral_seed: [u8; 32],
        sas_nonce: [u8; SAS_NONCE_LEN],
        now: UnixTime,
    ) -> Result<(ExpectAnswer, Offer), HandshakeError> {
        check_username(&params.caller)?;
        check_username(&params.callee)?;
        check_candidates(&params.candidates)?;
        params
            .profile
            .validate()
            .map_err(HandshakeError::Malformed)?;
        let mut seed = Zeroizing::new(ephemeral_seed);
        // (dk, ek) = X-Wing.KeyGen(seed): the seed *is* the X-Wing secret key.
        let decapsulation_key = Box::new(SecretKeyXWing::from_seed(&seed));
        seed.zeroize();
        let ek: [u8; ENCAPSULATION_KEY_SIZE] = decapsulation_key.public().to_bytes();
        let sas_nonce = Zeroizing::new(sas_nonce);
        let commitment = sas_commitment(&sas_nonce);
        let body = Offer::encode_body(&params, identity.public(), &ek, &commitment, now);
        let hash = labelled_hash(OFFER_HASH_LABEL, &body);
        let signature = identity.sign(OFFER_DOMAIN, &hash);
        let offer = Offer {
            call_id: params.call_id,
            caller: params.caller,
            callee: params.callee,
            caller_identity: identity.public().clone(),
            ephemeral_key: Box::new(decapsulation_key.public().clone()),
            sas_commitment: commitment,
            candidates: params.candidates,
            profile: params.profile,
            created_at: now,
            signature,
            body,
        };
        let state = ExpectAnswer {
            decapsulation_key,
            sas_nonce,
            offer: offer.clone(),
            callee_pinned,
        };
        Ok((state, offer))
    }

    /// The offer this state is waiting on.
    pub fn offer(&self) -> &Offer {
        &self.offer
    }

    /// Checks the answer (call id, pinned key, signature, profile, and its
    /// age at `now` under `policy`, the same window offers get),
    /// decapsulates, erases the ephemeral secret and derives the keys.
    pub fn handle_answer(
        self,
        answer: &Answer,
        now: UnixTime,
        policy: &OfferPolicy,
    ) -> Result<Established, AnswerRejected> {
        match self.check_answer(answer, now, policy) {
            Ok(()) => {}
            Err(error) => {
                return Err(AnswerRejected {
                    error,
                    state: Box::new(self),
                });
            }
        }
        let mut ss = match self.decapsulation_key.decapsulate(&answer.ciphertext) {
            Ok(ss) => ss,
            Err(_) => {
                return Err(AnswerRejected {
                    error: HandshakeError::KeyExchangeFailed,
                    state: Box::new(self),
                });
            }
        };
        let offer_hash = self.offer.hash();
        let answer_hash = labelled_hash(ANSWER_HASH_LABEL, &answer.body);
        let th = transcript_hash(&offer_hash, &answer_hash);
        let secrets = schedule::derive(Role::Caller, &ss, &th);
        ss.zeroize();
        let ExpectAnswer {
            decapsulation_key,
            sas_nonce,
            offer,
            callee_pinned,
        } = self;
        // Dropping the decapsulation key zeroizes it (see `xwing`
        // feature): from here the call cannot be decrypted from this side's
        // long-term state.
        drop(decapsulation_key);
        Ok(Established {
            role: Role::Caller,
            call_id: offer.call_id,
            peer_username: offer.callee,
            peer_identity: callee_pinned,
            peer_candidates: answer.candidates.clone(),
            profile: offer.profile,
            transcript_hash: th,
            sas_commitment: offer.sas_commitment,
            sas_nonce: Some(sas_nonce),
            secrets,
        })
    }

    fn check_answer(
        &self,
        answer: &Answer,
        now: UnixTime,
        policy: &OfferPolicy,
    ) -> Result<(), HandshakeError> {
        if answer.call_id != self.offer.call_id {
            return Err(HandshakeError::CallIdMismatch);
        }
        if answer.callee_identity != self.callee_pinned {
            return Err(HandshakeError::PinnedKeyMismatch);
        }
        let offer_hash = self.offer.hash();
        let answer_hash = labelled_hash(ANSWER_HASH_LABEL, &answer.body);
        self.callee_pinned
            .verify(
                ANSWER_DOMAIN,
                &answer_signed_message(&offer_hash, &answer_hash),
                &answer.signature,
            )
            .map_err(|_| HandshakeError::BadSignature)?;
        if answer.profile != self.offer.profile {
            return Err(HandshakeError::ProfileMismatch);
        }
        // Checked after the signature, so that the error names a genuine
        // answer that arrived too late rather than any garbage.
        match policy.check(answer.created_at, now) {
            Freshness::Fresh => Ok(()),
            Freshness::FromFuture => Err(HandshakeError::AnswerFromFuture),
            Freshness::Expired => Err(HandshakeError::AnswerExpired),
        }
    }
}

/// A finished handshake: the only way to build a
/// [`crate::session::CallSession`].
pub struct Established {
    role: Role,
    call_id: HandshakeCallId,
    peer_username: String,
    peer_identity: PublicIdentity,
    peer_candidates: Vec<SocketAddr>,
    profile: MediaProfile,
    transcript_hash: [u8; 32],
    sas_commitment: [u8; SAS_NONCE_LEN],
    /// The caller's SAS nonce; `None` on the callee until the reveal.
    sas_nonce: Option<Zeroizing<[u8; SAS_NONCE_LEN]>>,
    pub(crate) secrets: SessionSecrets,
}

impl core::fmt::Debug for Established {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Established")
            .field("role", &self.role)
            .field("call_id", &self.call_id.to_hex())
            .field("peer_username", &self.peer_username)
            .field("peer_identity", &self.peer_identity)
            .field("profile", &self.profile)
            .field("sas", &self.sas())
            .finish_non_exhaustive()
    }
}

impl Established {
    /// Whether this side called or answered.
    pub fn role(&self) -> Role {
        self.role
    }
    /// The call id.
    pub fn call_id(&self) -> HandshakeCallId {
        self.call_id
    }
    /// The other person's username.
    pub fn peer_username(&self) -> &str {
        &self.peer_username
    }
    /// The other side's (pinned, verified) identity key.
    pub fn peer_identity(&self) -> &PublicIdentity {
        &self.peer_identity
    }
    /// Where the other side accepts media.
    pub fn peer_candidates(&self) -> &[SocketAddr] {
        &self.peer_candidates
    }
    /// The agreed media profile.
    pub fn profile(&self) -> &MediaProfile {
        &self.profile
    }
    /// Hash of the whole signed transcript; equal on both sides.
    pub fn transcript_hash(&self) -> &[u8; 32] {
        &self.transcript_hash
    }
    /// The short authentication string to show during the call, if this
    /// side knows it yet: the caller knows it at once; the callee learns it
    /// when the caller's nonce arrives in the media phase
    /// ([`crate::session::SessionEvent::SasReady`]), so here it is `None`.
    pub fn sas(&self) -> Option<Sas> {
        self.sas_nonce
            .as_ref()
            .map(|n| Sas::derive(&self.secrets.sas_key, n))
    }
    /// Splits into the parts a session needs.
    pub(crate) fn into_parts(self) -> SessionParts {
        SessionParts {
            role: self.role,
            profile: self.profile,
            sas_commitment: self.sas_commitment,
            sas_nonce: self.sas_nonce,
            secrets: self.secrets,
        }
    }
}

/// What a [`crate::session::CallSession`] takes from the handshake.
pub(crate) struct SessionParts {
    pub(crate) role: Role,
    pub(crate) profile: MediaProfile,
    pub(crate) sas_commitment: [u8; SAS_NONCE_LEN],
    pub(crate) sas_nonce: Option<Zeroizing<[u8; SAS_NONCE_LEN]>>,
    pub(crate) secrets: SessionSecrets,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_offer_and_answer_match_the_declared_bounds() {
        let a = IdentityKeyPair::from_seed(&[1; 32]);
        let b = IdentityKeyPair::from_seed(&[2; 32]);
        let v6: SocketAddr = "[2001:db8::1]:5000".parse().expect("literal");
        let params = OfferParams {
            call_id: HandshakeCallId([0; CALL_ID_LEN]),
            caller: "a".repeat(MAX_USERNAME_LEN),
            callee: "b".repeat(MAX_USERNAME_LEN),
            candidates: vec![v6; MAX_CANDIDATES],
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
            .accept(&b, vec![v6; MAX_CANDIDATES], [4; 32], now)
            .expect("accept");
        assert_eq!(answer.to_bytes().len(), MAX_ANSWER_LEN);

        let mut too_many = params;
        too_many.candidates.push(v6);
        assert!(
            ExpectAnswer::start(&a, too_many, b.public().clone(), [3; 32], [5; 32], now).is_err()
        );
    }
}
