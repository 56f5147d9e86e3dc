//! The caller's side: starting a call with an offer, checking the answer,
//! and the finished handshake both sides end in.

use zeroize::{Zeroize, Zeroizing};

use super::candidate::{Candidate, check_candidates};
use super::{
    ANSWER_DOMAIN, ANSWER_HASH_LABEL, Answer, HandshakeCallId, HandshakeError, MediaProfile,
    OFFER_DOMAIN, OFFER_HASH_LABEL, Offer, OfferParams, OfferPolicy, SAS_NONCE_LEN,
    answer_signed_message, check_username, labelled_hash, offer::Freshness, sas_commitment,
    transcript_hash,
};
use crate::identity::{IdentityKeyPair, PublicIdentity};
use crate::schedule::{self, Role, Sas, SessionSecrets};
use crate::time::UnixTime;
use crate::xwing::{PUBLIC_KEY_LEN as ENCAPSULATION_KEY_SIZE, SecretKeyXWing};

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
    pub(super) role: Role,
    pub(super) call_id: HandshakeCallId,
    pub(super) peer_username: String,
    pub(super) peer_identity: PublicIdentity,
    pub(super) peer_candidates: Vec<Candidate>,
    pub(super) profile: MediaProfile,
    pub(super) transcript_hash: [u8; 32],
    pub(super) sas_commitment: [u8; SAS_NONCE_LEN],
    /// The caller's SAS nonce; `None` on the callee until the reveal.
    pub(super) sas_nonce: Option<Zeroizing<[u8; SAS_NONCE_LEN]>>,
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
    /// Whether this side called or answered. The caller is the ICE
    /// controlling side (G in [`pair_priority`](super::pair_priority)).
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
    /// Where the other side accepts media, as its signed message listed
    /// them (checked: at most `MAX_CANDIDATES`, no duplicates).
    pub fn peer_candidates(&self) -> &[Candidate] {
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
