//! Writes the committed seed corpora of the fuzz targets: valid messages of
//! every kind, so that mutations start past the envelope checks and reach
//! the deep paths (signature checks, sealed packets that authenticate,
//! every signaling message type).
//!
//! Run it through `scripts/fuzz-smoke.sh --write-corpora` after any change
//! to a wire format, the handshake or the signaling types. It is
//! deterministic: every key and nonce comes from the fixed seeds in
//! `src/lib.rs` and the filler bytes from a seeded generator, so a rerun
//! without a format change rewrites identical files.
//!
//! Output: `crates/proto/fuzz/corpus/<target>/` and
//! `registry-server/fuzz/corpus/<target>/` (each directory is emptied
//! first, so a corpus holds only what this run wrote).

// proto's clippy.toml keeps file I/O out of the sans-IO core; this tool
// beside it exists to write files.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use pqvoice_proto_fuzz::{self as fx, Filler};
use proto::control::{ByeReason, ControlMessage, MAX_CONTROL_LEN, ReceiverReport};
use proto::handshake::{Answer, HANDSHAKE_VERSION, Offer};
use proto::identity::{HYBRID_SIGNATURE_ENCODED_LEN, HybridSignature, PublicIdentity};
use proto::signaling::{self, Validate};
use proto::time::Instant;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// One corpus: file name -> contents, written sorted.
type Corpus = BTreeMap<String, Vec<u8>>;

fn main() {
    let fuzz_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let repo = fuzz_dir
        .ancestors()
        .nth(3)
        .expect("crates/proto/fuzz sits three levels below the repository")
        .to_path_buf();
    let mut filler = Filler::new();

    let hs = handshake_messages();
    let packets = packet_corpus(&mut filler);
    let signaling = signaling_corpus(&hs);

    let proto_corpora = fuzz_dir.join("corpus");
    write(
        &proto_corpora.join("handshake_parse"),
        &handshake_parse_corpus(&hs),
    );
    write(
        &proto_corpora.join("handshake_fields"),
        &fields_corpus(&mut filler),
    );
    write(&proto_corpora.join("packet_open"), &packets);
    write(&proto_corpora.join("control_parse"), &control_corpus());
    write(&proto_corpora.join("signaling_parse"), &signaling);
    let registry_corpora = repo.join("registry-server/fuzz/corpus");
    write(
        &registry_corpora.join("registry_input"),
        &registry_corpus(&signaling),
    );
}

/// Replaces `dir`'s files with `corpus`.
fn write(dir: &Path, corpus: &Corpus) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).expect("remove the old corpus");
    }
    std::fs::create_dir_all(dir).expect("create the corpus directory");
    let mut total = 0;
    for (name, bytes) in corpus {
        std::fs::write(dir.join(name), bytes).expect("write a seed");
        total += bytes.len();
    }
    println!("{}: {} seeds, {} bytes", dir.display(), corpus.len(), total);
}

/// The fixture handshake in its wire forms.
struct HandshakeMessages {
    offer: Vec<u8>,
    answer: Vec<u8>,
    /// An offer with no candidates.
    bare_offer: Vec<u8>,
    caller_key: Vec<u8>,
    callee_key: Vec<u8>,
    signature: Vec<u8>,
}

fn handshake_messages() -> HandshakeMessages {
    let (alice, bob) = (fx::caller_identity(), fx::callee_identity());
    let (_, offer) = fx::start_call(&alice, &bob, fx::caller_candidates());
    let (_, bare) = fx::start_call(&alice, &bob, vec![]);
    let offer_bytes = offer.to_bytes();
    let verified = fx::verify_offer(offer, &alice);
    let (answer, _) = fx::accept(verified, &bob);
    let signature = alice.sign(b"pqvoice/fuzz-seed/v1", b"a signature to mutate");
    let hs = HandshakeMessages {
        offer: offer_bytes,
        answer: answer.to_bytes(),
        bare_offer: bare.to_bytes(),
        caller_key: alice.public().to_bytes(),
        callee_key: bob.public().to_bytes(),
        signature: signature.to_bytes(),
    };
    // Everything written must parse, or the corpus starts in the envelope.
    assert!(Offer::from_bytes(&hs.offer).is_ok());
    assert!(Offer::from_bytes(&hs.bare_offer).is_ok());
    assert!(Answer::from_bytes(&hs.answer).is_ok());
    assert!(PublicIdentity::from_bytes(&hs.caller_key).is_ok());
    assert!(HybridSignature::from_bytes(&hs.signature).is_ok());
    hs
}

fn handshake_parse_corpus(hs: &HandshakeMessages) -> Corpus {
    let mut c = Corpus::new();
    c.insert("offer".into(), hs.offer.clone());
    c.insert("offer-no-candidates".into(), hs.bare_offer.clone());
    c.insert("answer".into(), hs.answer.clone());
    c.insert("identity-caller".into(), hs.caller_key.clone());
    c.insert("identity-callee".into(), hs.callee_key.clone());
    c.insert("signature".into(), hs.signature.clone());
    // Issue 18's crash: a message exactly one signature long, whose body
    // cannot hold its own header.
    for (name, kind) in [("short-body-offer", b'O'), ("short-body-answer", b'A')] {
        let mut m = vec![0u8; HYBRID_SIGNATURE_ENCODED_LEN];
        m[0] = HANDSHAKE_VERSION;
        m[1] = kind;
        c.insert(name.into(), m);
    }
    c
}

/// Seeds of the structure-aware target are `arbitrary` input, not
/// messages: the empty input (no mutation, the genuine offer) and a few
/// fixed byte strings that decode to assorted mutation lists.
fn fields_corpus(filler: &mut Filler) -> Corpus {
    let mut c = Corpus::new();
    c.insert("unchanged-offer".into(), vec![]);
    c.insert("unchanged-answer".into(), vec![1]);
    for (i, len) in [8usize, 16, 32, 64, 128, 256].into_iter().enumerate() {
        c.insert(format!("mutations-{i}"), filler.bytes(len));
    }
    // Found by the first campaign: transplanting the candidates and the
    // signature of the offer without candidates rebuilds that (genuinely
    // signed) offer, which the target's oracle first took for a forgery.
    c.insert(
        "transplant-to-another-signed-offer".into(),
        BASE64
            .decode("Yn2fHgHMAAAgAQB9fX1BfX19PX19fX19fQB9fXU=")
            .expect("literal base64"),
    );
    c
}

/// Alice's sealed packets to Bob (Bob's session in the target opens
/// them), plus the plaintext payloads the target also feeds to the
/// decoders directly.
fn packet_corpus(filler: &mut Filler) -> Corpus {
    let mut c = Corpus::new();
    let packets = fx::caller_packets(filler);
    // Each must open in Bob's session, or the corpus would stop at the tag.
    let (_, mut bob, _) = fx::sessions();
    for (name, bytes) in &packets {
        if bob.is_closed() {
            break; // the first bye ended the call; the copies need no check
        }
        let mut datagram = bytes.clone();
        if let Err(e) = bob.handle_datagram(Instant::from_micros(1), &mut datagram) {
            panic!("packet {name} does not open in the fixture session: {e}");
        }
    }
    for (name, bytes) in packets {
        c.insert(name, bytes);
    }
    for (name, bytes) in fx::plain_media_payloads(filler) {
        c.insert(name, bytes);
    }
    c
}

fn control_messages() -> Vec<(&'static str, ControlMessage)> {
    vec![
        (
            "ping",
            ControlMessage::Ping {
                id: 7,
                sent_at: 1_000_000,
            },
        ),
        (
            "pong",
            ControlMessage::Pong {
                id: 7,
                sent_at: 1_000_000,
            },
        ),
        (
            "report",
            ControlMessage::ReceiverReport(ReceiverReport {
                received: 500,
                lost: 3,
                duplicates: 1,
                highest_packet_number: 503,
                jitter_micros: 2_500,
            }),
        ),
        (
            "bye",
            ControlMessage::Bye {
                reason: ByeReason::HungUp,
            },
        ),
        ("rekey", ControlMessage::Rekey { epoch: 1 }),
        ("sas-reveal", ControlMessage::SasReveal { nonce: [6; 32] }),
        ("sas-reveal-ack", ControlMessage::SasRevealAck),
    ]
}

fn control_corpus() -> Corpus {
    control_messages()
        .into_iter()
        .map(|(name, msg)| {
            let mut buf = [0u8; MAX_CONTROL_LEN];
            msg.encode(&mut buf)
                .expect("MAX_CONTROL_LEN fits every message");
            let used = buf.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            (name.to_string(), buf[..used.max(2)].to_vec())
        })
        .collect()
}

/// Checks that `v` parses as `T` the way the receiver parses it.
fn checked<T: DeserializeOwned + Validate>(name: &str, v: &Value) -> Vec<u8> {
    let bytes = serde_json::to_vec(v).expect("JSON serializes");
    if let Err(e) = signaling::parse::<T>(&bytes) {
        panic!("seed {name} no longer parses ({e}); update its template in seed_corpora.rs");
    }
    bytes
}

/// Checks a response body the way the client reads it (serde only).
fn checked_response<T: DeserializeOwned>(name: &str, v: &Value) -> Vec<u8> {
    let bytes = serde_json::to_vec(v).expect("JSON serializes");
    if let Err(e) = serde_json::from_slice::<T>(&bytes) {
        panic!("seed {name} no longer parses ({e}); update its template in seed_corpora.rs");
    }
    bytes
}

/// JSON of every client request, socket frame and push type.
fn signaling_corpus(hs: &HandshakeMessages) -> Corpus {
    use proto::signaling::*;
    let offer = BASE64.encode(&hs.offer);
    let answer = BASE64.encode(&hs.answer);
    let key = BASE64.encode(&hs.caller_key);
    let sig = BASE64.encode(&hs.signature);
    let challenge = BASE64.encode([9u8; CHALLENGE_LEN]);
    let call = "03030303030303030303030303030303";
    let status = json!({
        "call_id": call, "caller": "alice", "callee": "bob", "state": "ringing",
        "created_at": 1_800_000_000u64, "updated_at": 1_800_000_001u64, "offer": offer,
    });
    let mut c = Corpus::new();
    let mut add = |name: &str, bytes: Vec<u8>| {
        c.insert(name.to_string(), bytes);
    };
    // Requests (HTTP bodies).
    add(
        "req-register",
        checked::<RegisterRequest>(
            "register",
            &json!({
                "username": "alice", "identity_key": key, "timestamp": 1_800_000_000u64, "signature": sig,
            }),
        ),
    );
    add(
        "req-challenge",
        checked::<ChallengeRequest>("challenge", &json!({"username": "alice"})),
    );
    add(
        "req-sign-in",
        checked::<SignInRequest>(
            "sign-in",
            &json!({
                "username": "alice", "origin": "https://registry.example:8443",
                "challenge": challenge, "signature": sig,
            }),
        ),
    );
    add(
        "req-rotate-key",
        checked::<RotateKeyRequest>(
            "rotate-key",
            &json!({
                "username": "alice", "new_identity_key": key, "timestamp": 1_800_000_000u64,
                "old_signature": sig, "new_signature": sig,
            }),
        ),
    );
    add(
        "req-search",
        checked::<SearchQuery>("search", &json!({"q": "al", "limit": 10})),
    );
    add(
        "req-initiate",
        checked::<InitiateRequest>("initiate", &json!({"callee": "bob", "offer": offer})),
    );
    add(
        "req-accept",
        checked::<AcceptRequest>("accept", &json!({"call_id": call, "answer": answer})),
    );
    add(
        "req-reject",
        checked::<RejectRequest>("reject", &json!({"call_id": call})),
    );
    add(
        "req-hangup",
        checked::<HangupRequest>("hangup", &json!({"call_id": call})),
    );
    add(
        "req-contacts",
        checked_response::<ContactList>("contacts", &json!({"contacts": ["bob", "carol"]})),
    );
    // Socket frames from the client.
    let frames: [(&str, Value); 6] = [
        (
            "ws-subscribe",
            json!({"type": "subscribe", "usernames": ["bob", "carol"]}),
        ),
        ("ws-ping", json!({"type": "ping", "nonce": 42})),
        (
            "ws-initiate",
            json!({"type": "initiate", "req": 1, "callee": "bob", "offer": offer}),
        ),
        (
            "ws-accept",
            json!({"type": "accept", "req": 2, "call_id": call, "answer": answer}),
        ),
        (
            "ws-reject",
            json!({"type": "reject", "req": 3, "call_id": call}),
        ),
        (
            "ws-hangup",
            json!({"type": "hangup", "req": 4, "call_id": call}),
        ),
    ];
    for (name, v) in &frames {
        add(name, checked::<ClientMessage>(name, v));
    }
    // Pushes from the registry.
    let error = json!({"code": "rate_limited", "message": "slow down"});
    let pushes: [(&str, Value); 14] = [
        (
            "push-welcome",
            json!({"type": "welcome", "username": "bob", "server_time": 1_800_000_000u64}),
        ),
        (
            "push-incoming-call",
            json!({"type": "incoming_call", "call_id": call, "caller": "alice", "offer": offer, "created_at": 1_800_000_000u64}),
        ),
        (
            "push-accepted",
            json!({"type": "accepted", "call_id": call, "answer": answer}),
        ),
        (
            "push-rejected",
            json!({"type": "rejected", "call_id": call}),
        ),
        (
            "push-ended",
            json!({"type": "ended", "call_id": call, "by": "bob"}),
        ),
        (
            "push-missed",
            json!({"type": "missed", "call_id": call, "caller": "alice", "callee": "bob"}),
        ),
        (
            "push-busy",
            json!({"type": "busy", "call_id": call, "callee": "bob"}),
        ),
        (
            "push-cancelled",
            json!({"type": "cancelled", "call_id": call}),
        ),
        (
            "push-presence",
            json!({"type": "presence", "username": "bob", "presence": "online", "last_seen": null}),
        ),
        ("push-pong", json!({"type": "pong", "nonce": 42})),
        (
            "push-call-reply",
            json!({"type": "call_reply", "req": 1, "status": status}),
        ),
        (
            "push-call-refused",
            json!({"type": "call_refused", "req": 1, "error": error}),
        ),
        (
            "push-error",
            json!({"type": "error", "code": "malformed_json", "message": "expected value"}),
        ),
        (
            "push-ended-disconnect",
            json!({"type": "ended", "call_id": call, "by": null}),
        ),
    ];
    for (name, v) in &pushes {
        add(name, checked::<ServerEvent>(name, v));
    }
    // Response bodies the client reads.
    add(
        "resp-register",
        checked_response::<RegisterResponse>(
            "register",
            &json!({"username": "alice", "fingerprint": "00ff"}),
        ),
    );
    add(
        "resp-challenge",
        checked_response::<ChallengeResponse>(
            "challenge",
            &json!({"challenge": challenge, "expires_at": 1_800_000_060u64}),
        ),
    );
    add(
        "resp-sign-in",
        checked_response::<SignInResponse>(
            "sign-in",
            &json!({"token": "alice:1800003600:00:00", "expires_at": 1_800_003_600u64}),
        ),
    );
    add(
        "resp-user-info",
        checked_response::<UserInfo>(
            "user-info",
            &json!({"username": "bob", "identity_key": key, "fingerprint": "00ff", "presence": "online", "last_seen": 1_800_000_000u64}),
        ),
    );
    add(
        "resp-user-list",
        checked_response::<UserList>(
            "user-list",
            &json!({"users": [{"username": "bob", "presence": "offline", "last_seen": null}]}),
        ),
    );
    add(
        "resp-call-status",
        checked_response::<CallStatus>("call-status", &status),
    );
    add(
        "resp-incoming",
        checked_response::<IncomingCalls>("incoming", &json!({"calls": [status]})),
    );
    add("resp-error", checked_response::<ErrorBody>("error", &error));
    c
}

/// The registry target reads its input as a socket frame, as every
/// request body, as an `Authorization` header and as a `Content-Length`:
/// valid ones of each.
fn registry_corpus(signaling: &Corpus) -> Corpus {
    let mut c: Corpus = signaling
        .iter()
        .filter(|(name, _)| name.starts_with("req-") || name.starts_with("ws-"))
        .map(|(name, bytes)| (name.clone(), bytes.clone()))
        .collect();
    // <username>:<expires_at>:<16-byte key tag>:<32-byte MAC>, in hex.
    let token = format!("alice:1800003600:{}:{}", "ab".repeat(16), "cd".repeat(32));
    c.insert(
        "header-bearer".into(),
        format!("Bearer {token}").into_bytes(),
    );
    c.insert("content-length".into(), b"1234".to_vec());
    c
}
