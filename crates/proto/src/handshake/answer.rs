//! The callee's side: accepting a verified offer, and the signed answer
//! that goes back to the caller.

use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::candidate::{Candidate, check_candidates, encode_candidates};
use super::{
    ANSWER_DOMAIN, ANSWER_HASH_LABEL, ENCAPSULATION_RNG_LABEL, Established, HANDSHAKE_VERSION,
    HandshakeCallId, HandshakeError, KIND_ANSWER, MAX_ANSWER_LEN, MediaProfile, Offer,
    SignedFields, answer_signed_message, decode_identity, decode_tail, labelled_hash, open_signed,
    transcript_hash,
};
use crate::identity::{HybridSignature, IdentityKeyPair, PublicIdentity};
use crate::schedule::{self, Role};
use crate::time::UnixTime;
use crate::xwing::CIPHERTEXT_LEN as CIPHERTEXT_SIZE;

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
    pub(super) offer: Offer,
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
        candidates: Vec<Candidate>,
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

/// The callee's signed answer.
#[derive(Clone, PartialEq, Eq)]
pub struct Answer {
    pub(super) call_id: HandshakeCallId,
    pub(super) callee_identity: PublicIdentity,
    pub(super) ciphertext: Box<[u8; CIPHERTEXT_SIZE]>,
    pub(super) candidates: Vec<Candidate>,
    pub(super) profile: MediaProfile,
    pub(super) created_at: UnixTime,
    pub(super) signature: HybridSignature,
    pub(super) body: Vec<u8>,
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
    pub(super) fn encode_body(
        call_id: &HandshakeCallId,
        identity: &PublicIdentity,
        ciphertext: &[u8; CIPHERTEXT_SIZE],
        candidates: &[Candidate],
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

    /// Parses an answer (format only;
    /// [`ExpectAnswer::handle_answer`](super::ExpectAnswer::handle_answer)
    /// checks the rest).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HandshakeError> {
        let SignedFields {
            body,
            signature,
            call_id,
            fields: mut r,
        } = open_signed(bytes, KIND_ANSWER, MAX_ANSWER_LEN, "answer too long")?;
        let callee_identity = decode_identity(&mut r)?;
        let ciphertext: [u8; CIPHERTEXT_SIZE] = r
            .array()
            .ok_or(HandshakeError::Malformed("truncated ciphertext"))?;
        let (candidates, profile, created_at) = decode_tail(r)?;
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
    pub fn candidates(&self) -> &[Candidate] {
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
