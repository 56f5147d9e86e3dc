//! Structure-aware handshake fuzzing: start from the genuine fixture offer
//! or answer, change its *fields* (call id, names, identity key, ephemeral
//! key, SAS commitment, candidates, profile, timestamp, signature; cut,
//! lengthen, drop or repeat them; transplant a valid field from another
//! message), then run the callee's `Offer::from_bytes` + `verify` or the
//! caller's `Answer::from_bytes` + `ExpectAnswer::handle_answer`.
//!
//! Random bytes almost never get past the envelope of a 7 KB message whose
//! fields have fixed lengths; field-wise changes keep the rest intact, so
//! the parser's later fields, the pinned-key check, the signature check
//! and the time window are all reached. The oracle: nothing may panic, and
//! a message that verifies must be byte-for-byte a genuine one (a change
//! that still verifies would be a forgery).
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use pqvoice_proto_fuzz::{self as fx, Field};
use proto::handshake::{Answer, ExpectAnswer, Offer, OfferPolicy};
use proto::identity::IdentityKeyPair;
use proto::time::UnixTime;

/// The most mutations applied to one message.
const MAX_MUTATIONS: usize = 8;

struct Fixture {
    alice: IdentityKeyPair,
    bob: IdentityKeyPair,
    mallory: IdentityKeyPair,
    offer: Vec<(Field, Vec<u8>)>,
    answer: Vec<(Field, Vec<u8>)>,
    /// Every message some key really signed (the two offers, Mallory's
    /// offer, the answer): the only encodings allowed to verify. Field
    /// transplants can rebuild any of them.
    genuine: Vec<Vec<u8>>,
    /// Valid values of each field taken from other messages, to transplant.
    donors: Vec<(Field, Vec<u8>)>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let (alice, bob) = (fx::caller_identity(), fx::callee_identity());
        let mallory = IdentityKeyPair::from_seed(&[0x66; 32]);
        let (_, offer) = fx::start_call(&alice, &bob, fx::caller_candidates());
        let (_, bare_offer) = fx::start_call(&alice, &bob, vec![]);
        let offer_bytes = offer.to_bytes();
        let (answer, _) = fx::accept(fx::verify_offer(offer, &alice), &bob);
        let answer_bytes = answer.to_bytes();
        // Mallory's offer to Bob: every field valid, signed by the wrong key.
        let (_, forged) = fx::start_call(&mallory, &bob, fx::callee_candidates());

        let split = |bytes: &[u8], is_offer: bool| {
            let fields = fx::split(bytes, is_offer)
                .expect("the fixture message follows the layout in src/lib.rs; update split()");
            assert_eq!(fx::join(&fields), bytes, "split/join must round-trip");
            fields
        };
        let offer_fields = split(&offer_bytes, true);
        let answer_fields = split(&answer_bytes, false);
        let (bare_bytes, forged_bytes) = (bare_offer.to_bytes(), forged.to_bytes());
        let mut donors = split(&bare_bytes, true);
        donors.extend(split(&forged_bytes, true));
        donors.extend(answer_fields.iter().cloned());
        donors.extend(offer_fields.iter().cloned());
        donors.push((Field::Identity, mallory.public().to_bytes()));
        donors.push((
            Field::Signature,
            alice
                .sign(b"pqvoice/fuzz/v1", b"another message")
                .to_bytes(),
        ));
        Fixture {
            alice,
            bob,
            mallory,
            offer: offer_fields,
            answer: answer_fields,
            genuine: vec![offer_bytes, answer_bytes, bare_bytes, forged_bytes],
            donors,
        }
    })
}

/// Alice waiting for Bob's answer, with Bob's genuine key pinned and with
/// another key pinned. A refused answer hands the state back; only a
/// genuine answer consumes it, and then a new one is made.
fn waiting() -> &'static Mutex<[Option<ExpectAnswer>; 2]> {
    static W: OnceLock<Mutex<[Option<ExpectAnswer>; 2]>> = OnceLock::new();
    W.get_or_init(|| Mutex::new([None, None]))
}

#[derive(Arbitrary, Debug)]
enum Clock {
    Now,
    Later(u16),
    Earlier(u16),
    At(u64),
}

#[derive(Arbitrary, Debug)]
enum Pin {
    /// The key the sender really has.
    Genuine,
    /// A key the sender does not have.
    Other,
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    /// Replaces a field's bytes (the field picked by index, modulo).
    Replace { field: u8, bytes: Vec<u8> },
    /// XORs `mask` into one byte of a field.
    Flip { field: u8, at: u16, mask: u8 },
    /// Cuts a field to `len` bytes.
    Truncate { field: u8, len: u16 },
    /// Appends bytes to a field.
    Extend { field: u8, bytes: Vec<u8> },
    /// Drops a field.
    Remove { field: u8 },
    /// Repeats a field.
    Repeat { field: u8 },
    /// Replaces a field with the same field of another valid message.
    Transplant { field: u8, donor: u8 },
    /// A new call id.
    CallId([u8; 16]),
    /// A username (offers only), with a length byte that may lie.
    Username {
        second: bool,
        name: Vec<u8>,
        length_delta: i8,
    },
    /// A well-formed candidate list (the count may exceed the maximum;
    /// the kind byte is taken modulo 4, so one value in four is unknown).
    Candidates(Vec<(u8, u32, bool, [u8; 16], u16)>),
    /// A media profile of any values.
    Profile {
        codec: u8,
        frame_ms: u8,
        packet_len: u16,
        redundancy: u8,
    },
    /// A new creation time.
    Timestamp(u64),
    /// Cuts the whole message.
    TruncateMessage(u16),
}

#[derive(Arbitrary, Debug)]
struct Input {
    answer: bool,
    clock: Clock,
    pin: Pin,
    mutations: Vec<Mutation>,
}

fn index(fields: &[(Field, Vec<u8>)], i: u8) -> Option<usize> {
    (!fields.is_empty()).then(|| usize::from(i) % fields.len())
}

fn position(fields: &[(Field, Vec<u8>)], kind: Field, nth: usize) -> Option<usize> {
    fields
        .iter()
        .enumerate()
        .filter(|(_, (f, _))| *f == kind)
        .nth(nth)
        .map(|(i, _)| i)
}

fn apply(fields: &mut Vec<(Field, Vec<u8>)>, m: Mutation, fx: &Fixture) {
    match m {
        Mutation::Replace { field, bytes } => {
            if let Some(i) = index(fields, field) {
                fields[i].1 = bytes;
            }
        }
        Mutation::Flip { field, at, mask } => {
            if let Some(i) = index(fields, field) {
                let bytes = &mut fields[i].1;
                if !bytes.is_empty() {
                    let at = usize::from(at) % bytes.len();
                    bytes[at] ^= mask;
                }
            }
        }
        Mutation::Truncate { field, len } => {
            if let Some(i) = index(fields, field) {
                fields[i].1.truncate(usize::from(len));
            }
        }
        Mutation::Extend { field, bytes } => {
            if let Some(i) = index(fields, field) {
                fields[i].1.extend_from_slice(&bytes);
            }
        }
        Mutation::Remove { field } => {
            if let Some(i) = index(fields, field) {
                fields.remove(i);
            }
        }
        Mutation::Repeat { field } => {
            if let Some(i) = index(fields, field) {
                let copy = fields[i].clone();
                fields.insert(i, copy);
            }
        }
        Mutation::Transplant { field, donor } => {
            if let Some(i) = index(fields, field) {
                let kind = fields[i].0;
                let same: Vec<_> = fx.donors.iter().filter(|(f, _)| *f == kind).collect();
                if !same.is_empty() {
                    fields[i].1 = same[usize::from(donor) % same.len()].1.clone();
                }
            }
        }
        Mutation::CallId(id) => {
            if let Some(i) = position(fields, Field::CallId, 0) {
                fields[i].1 = id.to_vec();
            }
        }
        Mutation::Username {
            second,
            name,
            length_delta,
        } => {
            if let Some(i) = position(fields, Field::Username, usize::from(second)) {
                let len = (name.len() as u8).wrapping_add(length_delta as u8);
                let mut bytes = vec![len];
                bytes.extend_from_slice(&name);
                fields[i].1 = bytes;
            }
        }
        Mutation::Candidates(list) => {
            if let Some(i) = position(fields, Field::Candidates, 0) {
                let mut bytes = vec![list.len() as u8];
                for (kind, priority, v4, addr, port) in list {
                    bytes.push(kind % 4);
                    bytes.extend_from_slice(&priority.to_be_bytes());
                    if v4 {
                        bytes.push(4);
                        bytes.extend_from_slice(&addr[..4]);
                    } else {
                        bytes.push(6);
                        bytes.extend_from_slice(&addr);
                    }
                    bytes.extend_from_slice(&port.to_be_bytes());
                }
                fields[i].1 = bytes;
            }
        }
        Mutation::Profile {
            codec,
            frame_ms,
            packet_len,
            redundancy,
        } => {
            if let Some(i) = position(fields, Field::Profile, 0) {
                let mut bytes = vec![codec, frame_ms];
                bytes.extend_from_slice(&packet_len.to_be_bytes());
                bytes.push(redundancy);
                fields[i].1 = bytes;
            }
        }
        Mutation::Timestamp(t) => {
            if let Some(i) = position(fields, Field::Timestamp, 0) {
                fields[i].1 = t.to_be_bytes().to_vec();
            }
        }
        Mutation::TruncateMessage(len) => {
            // Applied by joining, cutting and keeping the result as one field.
            let mut joined = fx::join(fields);
            joined.truncate(usize::from(len));
            *fields = vec![(Field::Header, joined)];
        }
    }
}

fuzz_target!(|input: Input| {
    let f = fixture();
    let mut fields = if input.answer {
        f.answer.clone()
    } else {
        f.offer.clone()
    };
    for m in input.mutations.into_iter().take(MAX_MUTATIONS) {
        apply(&mut fields, m, f);
    }
    let bytes = fx::join(&fields);
    let now = match input.clock {
        Clock::Now => fx::NOW,
        Clock::Later(s) => UnixTime::from_secs(fx::NOW.as_secs() + u64::from(s)),
        Clock::Earlier(s) => UnixTime::from_secs(fx::NOW.as_secs() - u64::from(s)),
        Clock::At(t) => UnixTime::from_secs(t),
    };
    let policy = OfferPolicy::default();

    if !input.answer {
        let Ok(offer) = Offer::from_bytes(&bytes) else {
            return;
        };
        assert_eq!(
            offer.to_bytes(),
            bytes,
            "a parsed offer re-encodes unchanged"
        );
        let pinned = match input.pin {
            Pin::Genuine => f.alice.public(),
            Pin::Other => f.mallory.public(),
        };
        if let Ok(verified) = offer.verify(pinned, fx::CALLEE, now, &policy) {
            assert!(f.genuine.contains(&bytes), "a changed offer verified");
            verified
                .accept(&f.bob, fx::callee_candidates(), [9; 32], now)
                .expect("a verified offer can be accepted");
        }
        return;
    }

    let Ok(answer) = Answer::from_bytes(&bytes) else {
        return;
    };
    assert_eq!(
        answer.to_bytes(),
        bytes,
        "a parsed answer re-encodes unchanged"
    );
    // The pin is fixed when the call starts: Alice's idea of Bob's key.
    let (which, pinned_callee) = match input.pin {
        Pin::Genuine => (0, &f.bob),
        Pin::Other => (1, &f.mallory),
    };
    let mut slots = waiting().lock().unwrap_or_else(|e| e.into_inner());
    let state = slots[which]
        .take()
        .unwrap_or_else(|| fx::start_call(&f.alice, pinned_callee, fx::caller_candidates()).0);
    match state.handle_answer(&answer, now, &policy) {
        Ok(_) => assert!(f.genuine.contains(&bytes), "a changed answer verified"),
        Err(rejected) => slots[which] = Some(*rejected.state),
    }
});
