//! Fixed-seed fixtures shared by the fuzz targets and by the seed-corpus
//! generator (`examples/seed_corpora.rs`).
//!
//! A fuzz target only reaches the paths behind a signature or an AEAD tag
//! if its corpus holds messages that pass them. Those messages are valid
//! only for the exact keys the target holds, so both sides build their
//! keys here, from the same constant seeds: the committed corpora and the
//! targets cannot drift apart without the generator being rerun.
//!
//! Every call into the handshake API lives in this file, so a change of
//! that API (or of the wire format) is fixed in one place and followed by
//! `scripts/fuzz-smoke.sh --write-corpora`.

use core::net::SocketAddr;
use core::time::Duration;

use proto::control::ByeReason;
use proto::handshake::{
    Answer, CALL_ID_LEN, Candidate, CandidateKind, Established, ExpectAnswer, HandshakeCallId,
    MediaProfile, Offer, OfferParams, OfferPolicy, SAS_NONCE_LEN, VerifiedOffer,
};
use proto::identity::{HYBRID_SIGNATURE_ENCODED_LEN, IdentityKeyPair, PUBLIC_IDENTITY_ENCODED_LEN};
use proto::packet::{MediaFrame, MediaPayload};
use proto::session::{CallSession, SessionConfig};
use proto::time::{Instant, UnixTime};
use proto::xwing;

/// The wall clock of every fixture handshake.
pub const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);
/// The caller's username.
pub const CALLER: &str = "alice";
/// The callee's username.
pub const CALLEE: &str = "bob";

const CALLER_SEED: [u8; 32] = [1; 32];
const CALLEE_SEED: [u8; 32] = [2; 32];
const CALL_ID: [u8; CALL_ID_LEN] = [3; CALL_ID_LEN];
const EPHEMERAL_SEED: [u8; 32] = [4; 32];
const ENCAPSULATION_SEED: [u8; 32] = [5; 32];
const SAS_NONCE: [u8; SAS_NONCE_LEN] = [6; SAS_NONCE_LEN];

/// The caller's identity key pair.
pub fn caller_identity() -> IdentityKeyPair {
    IdentityKeyPair::from_seed(&CALLER_SEED)
}

/// The callee's identity key pair.
pub fn callee_identity() -> IdentityKeyPair {
    IdentityKeyPair::from_seed(&CALLEE_SEED)
}

/// The offer parameters, with the given media candidates.
pub fn offer_params(candidates: Vec<Candidate>) -> OfferParams {
    OfferParams {
        call_id: HandshakeCallId(CALL_ID),
        caller: CALLER.into(),
        callee: CALLEE.into(),
        candidates,
        profile: MediaProfile::DEFAULT,
    }
}

/// Candidates of the fixture offer: every kind, both address families.
pub fn caller_candidates() -> Vec<Candidate> {
    vec![
        Candidate::new(
            CandidateKind::Host,
            SocketAddr::from(([192, 0, 2, 1], 40_000)),
            65_535,
        ),
        Candidate::new(
            CandidateKind::ServerReflexive,
            SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 40_002)),
            65_535,
        ),
        Candidate::new(
            CandidateKind::Relayed,
            SocketAddr::from(([203, 0, 113, 9], 49_152)),
            65_535,
        ),
    ]
}

/// Candidates of the fixture answer.
pub fn callee_candidates() -> Vec<Candidate> {
    vec![Candidate::new(
        CandidateKind::Host,
        SocketAddr::from(([198, 51, 100, 7], 50_000)),
        65_535,
    )]
}

/// Alice starts a call to Bob with `candidates`: her waiting state and the
/// offer.
pub fn start_call(
    caller: &IdentityKeyPair,
    callee: &IdentityKeyPair,
    candidates: Vec<Candidate>,
) -> (ExpectAnswer, Offer) {
    ExpectAnswer::start(
        caller,
        offer_params(candidates),
        callee.public().clone(),
        EPHEMERAL_SEED,
        SAS_NONCE,
        NOW,
    )
    .expect("the fixture parameters are valid")
}

/// Bob checks the offer against Alice's key, as his client would.
pub fn verify_offer(offer: Offer, caller: &IdentityKeyPair) -> VerifiedOffer {
    offer
        .verify(caller.public(), CALLEE, NOW, &OfferPolicy::default())
        .expect("the fixture offer verifies")
}

/// Bob accepts: the answer and his side of the call. The same offer always
/// gives the same answer and keys, so a target can rebuild Bob's session
/// from a kept [`VerifiedOffer`] and still open the committed packets.
pub fn accept(offer: VerifiedOffer, callee: &IdentityKeyPair) -> (Answer, Established) {
    offer
        .accept(callee, callee_candidates(), ENCAPSULATION_SEED, NOW)
        .expect("the fixture offer is accepted")
}

/// Alice takes the answer.
pub fn finish(waiting: ExpectAnswer, answer: &Answer) -> Established {
    waiting
        .handle_answer(answer, NOW, &OfferPolicy::default())
        .map_err(|rejected| rejected.error)
        .expect("the fixture answer verifies")
}

/// Session timers for fuzzing: the clock never runs far enough for the
/// silence timeout to close a session between inputs.
pub fn session_config() -> SessionConfig {
    SessionConfig {
        idle_timeout: Duration::from_secs(u64::MAX / 4_000_000),
        ..SessionConfig::default()
    }
}

/// The two ends of the fixture call, as sessions started at time zero:
/// (caller, callee), plus Bob's verified offer to rebuild his side with.
pub fn sessions() -> (CallSession, CallSession, VerifiedOffer) {
    let (alice, bob) = (caller_identity(), callee_identity());
    let (waiting, offer) = start_call(&alice, &bob, caller_candidates());
    let verified = verify_offer(offer, &alice);
    let (answer, bob_side) = accept(verified.clone(), &bob);
    let alice_side = finish(waiting, &answer);
    let start = Instant::from_micros(0);
    (
        CallSession::new(alice_side, session_config(), start),
        CallSession::new(bob_side, session_config(), start),
        verified,
    )
}

/// A new session for Bob from the kept offer (same keys as before).
pub fn callee_session(verified: &VerifiedOffer) -> CallSession {
    let (_, bob_side) = accept(verified.clone(), &callee_identity());
    CallSession::new(bob_side, session_config(), Instant::from_micros(0))
}

/// One field of a signed handshake message, in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Version and kind bytes.
    Header,
    /// The call id.
    CallId,
    /// A username with its length byte.
    Username,
    /// An encoded public identity.
    Identity,
    /// The caller's X-Wing encapsulation key.
    EphemeralKey,
    /// The caller's SAS commitment.
    SasCommitment,
    /// The X-Wing ciphertext.
    Ciphertext,
    /// The candidate list with its count byte.
    Candidates,
    /// The media profile.
    Profile,
    /// The creation time.
    Timestamp,
    /// The hybrid signature.
    Signature,
}

/// Splits a valid offer or answer into its fields, in wire order.
///
/// This repeats the layout of `proto::handshake` on purpose: the
/// structure-aware target mutates one field at a time, which needs the
/// boundaries, and proto does not expose them. [`split`] returns `None`
/// when the bytes do not follow the layout it knows; the target checks at
/// start-up that the fixture messages split and join back unchanged, so a
/// format change is noticed at once rather than fuzzing misaligned fields.
pub fn split(message: &[u8], is_offer: bool) -> Option<Vec<(Field, Vec<u8>)>> {
    let mut fields = Vec::new();
    let mut rest = message;
    let mut take = |rest: &mut &[u8], field: Field, n: usize| -> Option<()> {
        if rest.len() < n {
            return None;
        }
        let (head, tail) = rest.split_at(n);
        fields.push((field, head.to_vec()));
        *rest = tail;
        Some(())
    };
    take(&mut rest, Field::Header, 2)?;
    take(&mut rest, Field::CallId, CALL_ID_LEN)?;
    if is_offer {
        for _ in 0..2 {
            let n = usize::from(*rest.first()?);
            take(&mut rest, Field::Username, 1 + n)?;
        }
    }
    take(&mut rest, Field::Identity, PUBLIC_IDENTITY_ENCODED_LEN)?;
    if is_offer {
        take(&mut rest, Field::EphemeralKey, xwing::PUBLIC_KEY_LEN)?;
        take(&mut rest, Field::SasCommitment, SAS_NONCE_LEN)?;
    } else {
        take(&mut rest, Field::Ciphertext, xwing::CIPHERTEXT_LEN)?;
    }
    // count | count × (kind u8 | priority u32 | family u8 | address | port u16)
    let count = usize::from(*rest.first()?);
    let mut len = 1;
    for _ in 0..count {
        let family = *rest.get(len + 5)?;
        len += 1 + 4 + 1 + if family == 4 { 4 } else { 16 } + 2;
    }
    take(&mut rest, Field::Candidates, len)?;
    take(&mut rest, Field::Profile, MediaProfile::ENCODED_LEN)?;
    take(&mut rest, Field::Timestamp, 8)?;
    take(&mut rest, Field::Signature, HYBRID_SIGNATURE_ENCODED_LEN)?;
    rest.is_empty().then_some(fields)
}

/// Joins fields back into one message.
pub fn join(fields: &[(Field, Vec<u8>)]) -> Vec<u8> {
    fields.iter().flat_map(|(_, b)| b.iter().copied()).collect()
}

/// xorshift64*: filler bytes that are the same on every run.
pub struct Filler(u64);

impl Filler {
    /// The generator every corpus and target starts from.
    pub fn new() -> Self {
        Self(0x7071_766f_6963_6521)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `n` filler bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

impl Default for Filler {
    fn default() -> Self {
        Self::new()
    }
}

/// Frame sizes of the fixture media packets: one to five frames, empty
/// ones included.
const MEDIA_FRAME_SIZES: [&[usize]; 4] = [&[40], &[60, 60], &[1, 0, 70], &[20, 20, 20, 20, 20]];

/// Every packet Alice sends in a short scripted call, named and in order:
/// the SAS reveal and first ping, media of one to five frames, a receiver
/// report, a rekey and media under the new epoch, and the hang-up. Bob's
/// fixture session opens each of them, and nothing else Alice's keys made.
pub fn caller_packets(filler: &mut Filler) -> Vec<(String, Vec<u8>)> {
    let (mut alice, _bob, _) = sessions();
    let mut out = Vec::new();
    let mut buf = vec![0u8; alice.packet_len()];
    let mut drain = |s: &mut CallSession, now: Instant, what: &str, out: &mut Vec<_>| {
        while let Some(len) = s.poll_transmit(now, &mut buf) {
            out.push((
                format!("sealed-{:02}-{what}", out.len()),
                buf[..len].to_vec(),
            ));
        }
    };
    let t0 = Instant::from_micros(0);
    alice.handle_timeout(t0);
    drain(&mut alice, t0, "control", &mut out);
    for (i, sizes) in MEDIA_FRAME_SIZES.iter().enumerate() {
        let data: Vec<Vec<u8>> = sizes.iter().map(|&s| filler.bytes(s)).collect();
        let frames = media_frames(&data);
        let payload = MediaPayload {
            timestamp: 960 * i as u32,
            frames: &frames,
        };
        let mut packet = vec![0u8; alice.packet_len()];
        let len = alice
            .send_media(t0, &payload, &mut packet)
            .expect("the fixture frames fit the default profile");
        out.push((
            format!("sealed-{:02}-media", out.len()),
            packet[..len].to_vec(),
        ));
    }
    let t5 = Instant::from_micros(5_000_000);
    alice.handle_timeout(t5);
    drain(&mut alice, t5, "control", &mut out);
    alice.rekey_send(t5);
    drain(&mut alice, t5, "rekey", &mut out);
    let data = [filler.bytes(50)];
    let frames = media_frames(&data);
    let payload = MediaPayload {
        timestamp: 48_000,
        frames: &frames,
    };
    let mut packet = vec![0u8; alice.packet_len()];
    let len = alice
        .send_media(t5, &payload, &mut packet)
        .expect("the fixture frame fits the default profile");
    out.push((
        format!("sealed-{:02}-media-epoch-1", out.len()),
        packet[..len].to_vec(),
    ));
    alice.hang_up(ByeReason::HungUp);
    drain(&mut alice, t5, "bye", &mut out);
    out
}

fn media_frames(data: &[Vec<u8>]) -> Vec<MediaFrame<'_>> {
    data.iter()
        .enumerate()
        .map(|(age, d)| MediaFrame {
            age: age as u8,
            data: d,
        })
        .collect()
}

/// Decrypted media payloads in their plaintext layout (see `proto::packet`:
/// kind, timestamp, count, then age, length and bytes of each frame).
pub fn plain_media_payloads(filler: &mut Filler) -> Vec<(String, Vec<u8>)> {
    MEDIA_FRAME_SIZES
        .iter()
        .enumerate()
        .map(|(i, sizes)| {
            let mut out = vec![1u8];
            out.extend_from_slice(&(960 * i as u32).to_be_bytes());
            out.push(sizes.len() as u8);
            for (age, &size) in sizes.iter().enumerate() {
                out.push(age as u8);
                out.extend_from_slice(&(size as u16).to_be_bytes());
                out.extend_from_slice(&filler.bytes(size));
            }
            (format!("plain-media-{i}"), out)
        })
        .collect()
}
