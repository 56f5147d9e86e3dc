//! The caller's signed offer: what it carries, its encoding, and the
//! callee's checks before the phone rings.

use core::time::Duration;

use super::candidate::{Candidate, encode_candidates};
use super::{
    HANDSHAKE_VERSION, HandshakeCallId, HandshakeError, KIND_OFFER, MAX_OFFER_LEN, MediaProfile,
    OFFER_DOMAIN, OFFER_HASH_LABEL, SAS_NONCE_LEN, SignedFields, VerifiedOffer, decode_identity,
    decode_tail, decode_username, labelled_hash, open_signed,
};
use crate::identity::{HybridSignature, PublicIdentity};
use crate::time::UnixTime;
use crate::xwing::{PUBLIC_KEY_LEN as ENCAPSULATION_KEY_SIZE, PublicKeyXWing};

/// What the caller puts into an offer besides keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferParams {
    /// Random id of this call (the engine draws it from OS randomness).
    pub call_id: HandshakeCallId,
    /// The caller's username.
    pub caller: String,
    /// The callee's username.
    pub callee: String,
    /// Where the caller accepts media, in no particular order (the
    /// priorities rank them). At most [`MAX_CANDIDATES`](super::MAX_CANDIDATES),
    /// no (kind, address) twice.
    pub candidates: Vec<Candidate>,
    /// Media profile of the call.
    pub profile: MediaProfile,
}

/// The caller's signed offer.
#[derive(Clone, PartialEq, Eq)]
pub struct Offer {
    pub(super) call_id: HandshakeCallId,
    pub(super) caller: String,
    pub(super) callee: String,
    pub(super) caller_identity: PublicIdentity,
    /// Parsed and checked once, when the offer is decoded or made.
    pub(super) ephemeral_key: Box<PublicKeyXWing>,
    pub(super) sas_commitment: [u8; SAS_NONCE_LEN],
    pub(super) candidates: Vec<Candidate>,
    pub(super) profile: MediaProfile,
    pub(super) created_at: UnixTime,
    pub(super) signature: HybridSignature,
    /// The signed bytes, kept so that hashing never re-encodes.
    pub(super) body: Vec<u8>,
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
    pub(super) fn encode_body(
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
        let SignedFields {
            body,
            signature,
            call_id,
            fields: mut r,
        } = open_signed(bytes, KIND_OFFER, MAX_OFFER_LEN, "offer too long")?;
        let caller = decode_username(&mut r)?;
        let callee = decode_username(&mut r)?;
        let caller_identity = decode_identity(&mut r)?;
        let ephemeral_key: [u8; ENCAPSULATION_KEY_SIZE] = r
            .array()
            .ok_or(HandshakeError::Malformed("truncated ephemeral key"))?;
        let ephemeral_key = PublicKeyXWing::from_bytes(&ephemeral_key)
            .map_err(|_| HandshakeError::Malformed("ephemeral key"))?;
        let sas_commitment: [u8; SAS_NONCE_LEN] = r
            .array()
            .ok_or(HandshakeError::Malformed("truncated SAS commitment"))?;
        let (candidates, profile, created_at) = decode_tail(r)?;
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
    pub fn candidates(&self) -> &[Candidate] {
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

    pub(super) fn hash(&self) -> [u8; 32] {
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
    /// registry. Replays within the window are caught by
    /// [`SeenOffers`](super::SeenOffers).
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
pub(super) enum Freshness {
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
    pub(super) fn check(&self, created_at: UnixTime, now: UnixTime) -> Freshness {
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
