//! Signaling messages: parsing rules, error codes, the call state machine
//! and the signed-message builders.

use proto::identity::IdentityKeyPair;
use proto::signaling::*;

fn code_of<T: serde::de::DeserializeOwned + Validate + std::fmt::Debug>(json: &[u8]) -> ErrorCode {
    parse::<T>(json).expect_err("must be refused").code
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn usernames_follow_the_charset_and_length_rule() {
    for ok in ["abc", "alice_01", "a.b-c", &"x".repeat(32)] {
        assert!(Username::parse(ok).is_ok(), "{ok} should be valid");
    }
    for bad in [
        "ab",
        "",
        "Alice",
        "al ice",
        "bøb",
        "a/b",
        "a:b",
        &"x".repeat(33),
    ] {
        let e = Username::parse(bad).expect_err("invalid");
        assert_eq!(e.code, ErrorCode::InvalidUsername, "{bad}");
    }
    // A huge name is refused without trouble.
    let huge = "a".repeat(1 << 20);
    assert_eq!(
        Username::parse(&huge).expect_err("too long").code,
        ErrorCode::InvalidUsername
    );
}

#[test]
fn parse_names_the_broken_rule() {
    let ok = br#"{"username":"alice"}"#;
    assert!(parse::<ChallengeRequest>(ok).is_ok());
    assert_eq!(
        code_of::<ChallengeRequest>(b"{\"username\":"),
        ErrorCode::MalformedJson
    );
    assert_eq!(
        code_of::<ChallengeRequest>(b"[1,2]"),
        ErrorCode::MalformedJson
    );
    assert_eq!(
        code_of::<ChallengeRequest>(br#"{"username":"alice","admin":true}"#),
        ErrorCode::UnknownField
    );
    assert_eq!(code_of::<ChallengeRequest>(b"{}"), ErrorCode::MissingField);
    assert_eq!(
        code_of::<ChallengeRequest>(b"{\"username\":\"al\xffce\"}"),
        ErrorCode::InvalidUtf8
    );
    assert_eq!(
        code_of::<ChallengeRequest>(br#"{"username":"ALICE"}"#),
        ErrorCode::InvalidUsername
    );
    let long = format!(r#"{{"username":"{}"}}"#, "a".repeat(10_000));
    assert_eq!(
        code_of::<ChallengeRequest>(long.as_bytes()),
        ErrorCode::InvalidUsername
    );
    let big = vec![b' '; MAX_REQUEST_BODY + 1];
    assert_eq!(
        code_of::<ChallengeRequest>(&big),
        ErrorCode::PayloadTooLarge
    );
}

#[test]
fn blobs_are_base64_and_capped() {
    let call_id = "0123456789abcdef0123456789abcdef";
    let good = format!(r#"{{"call_id":"{call_id}","answer":"{}"}}"#, b64(b"answer"));
    let req: AcceptRequest = parse(good.as_bytes()).expect("valid");
    assert_eq!(req.answer.to_bytes(), b"answer");

    let bad64 = format!(r#"{{"call_id":"{call_id}","answer":"not base64!"}}"#);
    assert_eq!(
        code_of::<AcceptRequest>(bad64.as_bytes()),
        ErrorCode::InvalidBase64
    );

    let huge = b64(&vec![0u8; MAX_HANDSHAKE_BLOB_LEN + 1]);
    let big = format!(r#"{{"call_id":"{call_id}","answer":"{huge}"}}"#);
    assert_eq!(
        code_of::<AcceptRequest>(big.as_bytes()),
        ErrorCode::BlobTooLarge
    );

    let at_cap = b64(&vec![7u8; MAX_HANDSHAKE_BLOB_LEN]);
    let fits = format!(r#"{{"call_id":"{call_id}","answer":"{at_cap}"}}"#);
    assert!(parse::<AcceptRequest>(fits.as_bytes()).is_ok());

    let empty = format!(r#"{{"call_id":"{call_id}","answer":""}}"#);
    assert_eq!(
        code_of::<AcceptRequest>(empty.as_bytes()),
        ErrorCode::InvalidField
    );

    let bad_id = format!(r#"{{"call_id":"XYZ","answer":"{}"}}"#, b64(b"a"));
    assert_eq!(
        code_of::<AcceptRequest>(bad_id.as_bytes()),
        ErrorCode::InvalidCallId
    );

    let short = format!(
        r#"{{"username":"alice","origin":"http://localhost:1","challenge":"{}","signature":"{}"}}"#,
        b64(&[1; CHALLENGE_LEN - 1]),
        b64(b"s")
    );
    assert_eq!(
        code_of::<SignInRequest>(short.as_bytes()),
        ErrorCode::InvalidField
    );
}

#[test]
fn server_events_round_trip_with_a_type_tag() {
    let alice = Username::parse("alice").expect("valid");
    let bob = Username::parse("bob").expect("valid");
    let id = CallId::from_bytes([0xab; CALL_ID_LEN]);
    let blob = HandshakeBlob::new(vec![1, 2, 3]).expect("small");
    let events = vec![
        ServerEvent::Welcome {
            username: alice.clone(),
            server_time: 5,
        },
        ServerEvent::IncomingCall {
            call_id: id.clone(),
            caller: alice.clone(),
            offer: blob.clone(),
            created_at: 9,
        },
        ServerEvent::Accepted {
            call_id: id.clone(),
            answer: blob,
        },
        ServerEvent::Rejected {
            call_id: id.clone(),
        },
        ServerEvent::Ended {
            call_id: id.clone(),
            by: Some(bob.clone()),
        },
        ServerEvent::Ended {
            call_id: id.clone(),
            by: None,
        },
        ServerEvent::Missed {
            call_id: id.clone(),
            caller: alice.clone(),
            callee: bob.clone(),
        },
        ServerEvent::Busy {
            call_id: id.clone(),
            callee: bob.clone(),
        },
        ServerEvent::Cancelled {
            call_id: id.clone(),
        },
        ServerEvent::Presence(PresenceInfo {
            username: bob,
            presence: Presence::Online,
            last_seen: Some(3),
        }),
        ServerEvent::Pong { nonce: 77 },
        ServerEvent::Error(ErrorBody {
            code: ErrorCode::RateLimited,
            message: "slow".into(),
        }),
    ];
    for ev in events {
        let json = serde_json::to_string(&ev).expect("serializes");
        assert!(json.starts_with("{\"type\":"), "{json}");
        let back: ServerEvent = parse(json.as_bytes()).expect("parses back");
        assert_eq!(back, ev);
    }
    assert_eq!(id.as_str(), "abababababababababababababababab");
    let extra = r#"{"type":"pong","nonce":1,"extra":2}"#;
    assert_eq!(
        code_of::<ServerEvent>(extra.as_bytes()),
        ErrorCode::UnknownField
    );
    let unknown = r#"{"type":"teleport"}"#;
    assert_eq!(
        code_of::<ServerEvent>(unknown.as_bytes()),
        ErrorCode::UnknownField
    );
}

#[test]
fn client_messages_cap_subscriptions() {
    let names: Vec<String> = (0..=MAX_SUBSCRIPTIONS)
        .map(|i| format!("\"user{i}\""))
        .collect();
    let json = format!(
        r#"{{"type":"subscribe","usernames":[{}]}}"#,
        names.join(",")
    );
    assert_eq!(
        code_of::<ClientMessage>(json.as_bytes()),
        ErrorCode::InvalidField
    );
    let ok = r#"{"type":"subscribe","usernames":["bob","carol"]}"#;
    assert!(parse::<ClientMessage>(ok.as_bytes()).is_ok());
}

#[test]
fn call_state_machine_allows_only_the_design_transitions() {
    use CallAction as A;
    use CallState as S;
    use Party::{Callee, Caller};
    let ok = [
        (S::Ringing, Callee, A::Accept, S::Active),
        (S::Ringing, Callee, A::Reject, S::Rejected),
        (S::Ringing, Callee, A::Hangup, S::Rejected),
        (S::Ringing, Caller, A::Hangup, S::Cancelled),
        (S::Ringing, Caller, A::Disconnect, S::Cancelled),
        (S::Ringing, Callee, A::Disconnect, S::Missed),
        (S::Ringing, Caller, A::Timeout, S::Missed),
        (S::Active, Caller, A::Hangup, S::Ended),
        (S::Active, Callee, A::Hangup, S::Ended),
        (S::Active, Callee, A::Disconnect, S::Ended),
    ];
    for (from, party, action, to) in ok {
        assert_eq!(next_call_state(from, party, action).expect("allowed"), to);
    }
    assert_eq!(
        next_call_state(S::Ringing, Caller, A::Accept)
            .expect_err("caller cannot accept")
            .code,
        ErrorCode::NotAParty
    );
    for final_state in [S::Ended, S::Rejected, S::Missed, S::Cancelled, S::Busy] {
        assert!(final_state.is_final());
        for action in [A::Accept, A::Reject, A::Hangup, A::Timeout, A::Disconnect] {
            let e = next_call_state(final_state, Callee, action).expect_err("final");
            assert_eq!(e.code, ErrorCode::InvalidTransition);
        }
    }
    assert_eq!(
        next_call_state(S::Active, Callee, A::Accept)
            .expect_err("twice")
            .code,
        ErrorCode::InvalidTransition
    );
    assert_eq!(
        next_call_state(S::Active, Caller, A::Timeout)
            .expect_err("no timeout once active")
            .code,
        ErrorCode::InvalidTransition
    );
}

#[test]
fn signed_messages_bind_every_field_and_their_domain() {
    let alice = Username::parse("alice").expect("valid");
    let bob = Username::parse("bob").expect("valid");
    let key = IdentityKeyPair::from_seed(&[1; 32]);
    let pk = key.public().to_bytes();

    let m = register_message(&alice, &pk, 1000);
    assert_eq!(m, register_message(&alice, &pk, 1000), "deterministic");
    assert_ne!(m, register_message(&bob, &pk, 1000));
    assert_ne!(m, register_message(&alice, &pk, 1001));
    // Field boundaries are framed: moving a byte between fields changes it.
    let u1 = Username::parse("abcd").expect("valid");
    let u2 = Username::parse("abc").expect("valid");
    let mut pk2 = vec![b'd'];
    pk2.extend_from_slice(&pk);
    assert_ne!(
        register_message(&u1, &pk, 1),
        register_message(&u2, &pk2, 1)
    );

    let sig = key.sign(REGISTER_DOMAIN, &m);
    assert!(key.public().verify(REGISTER_DOMAIN, &m, &sig).is_ok());
    assert!(key.public().verify(SIGN_IN_DOMAIN, &m, &sig).is_err());
    assert!(
        key.public()
            .verify(REGISTER_DOMAIN, &register_message(&alice, &pk, 1001), &sig)
            .is_err()
    );

    let ch = Challenge::new(vec![9; CHALLENGE_LEN]).expect("challenge size");
    let other = Challenge::new(vec![8; CHALLENGE_LEN]).expect("challenge size");
    let here = Origin::from_url("https://voice.example.org").expect("origin");
    let there = Origin::from_url("https://voice.example.org:8443").expect("origin");
    let m = sign_in_message(&alice, &here, &ch);
    assert_ne!(m, sign_in_message(&alice, &here, &other));
    assert_ne!(m, sign_in_message(&bob, &here, &ch));
    // The registry's origin is signed: another registry's is another message.
    assert_ne!(m, sign_in_message(&alice, &there, &ch));
    let sig = key.sign(SIGN_IN_DOMAIN, &m);
    assert!(key.public().verify(SIGN_IN_DOMAIN, &m, &sig).is_ok());
    assert!(
        key.public()
            .verify(SIGN_IN_DOMAIN, &sign_in_message(&alice, &there, &ch), &sig)
            .is_err()
    );
    assert_eq!(SIGN_IN_DOMAIN, b"pqvoice/sign-in/v2");

    let new_pk = IdentityKeyPair::from_seed(&[2; 32]).public().to_bytes();
    let r = rotate_key_message(&alice, &pk, &new_pk, 5);
    assert_ne!(
        r,
        rotate_key_message(&alice, &new_pk, &pk, 5),
        "old and new are ordered"
    );
    assert_ne!(r, rotate_key_message(&alice, &pk, &new_pk, 6));
}

#[test]
fn origins_have_one_canonical_spelling() {
    for (url, canonical) in [
        ("http://127.0.0.1:5001", "http://127.0.0.1:5001"),
        ("http://127.0.0.1:5001/", "http://127.0.0.1:5001"),
        ("HTTP://LocalHost:5001/path?q#f", "http://localhost:5001"),
        ("https://Voice.Example.ORG", "https://voice.example.org:443"),
        (
            "https://voice.example.org.:443/",
            "https://voice.example.org:443",
        ),
        ("http://example.org", "http://example.org:80"),
        ("http://example.org:", "http://example.org:80"),
        ("http://[::1]:5001", "http://[::1]:5001"),
        ("http://[2001:DB8:0:0::1]", "http://[2001:db8::1]:80"),
        ("https://[::ffff:10.0.0.1]:7", "https://[::ffff:10.0.0.1]:7"),
    ] {
        let o = Origin::from_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(o.as_str(), canonical, "{url}");
        // The canonical text is itself a URL with the same origin, and the
        // only spelling `parse` (the wire check) accepts.
        assert_eq!(Origin::parse(canonical).expect("canonical"), o);
    }
    let o = Origin::from_url("http://[::1]:5001").expect("v6");
    assert_eq!((o.host(), o.port(), o.is_https()), ("::1", 5001, false));
    assert_eq!(o.ip(), Some("::1".parse().expect("ip")));
    assert_eq!(
        Origin::from_url("https://a.example").expect("dns").ip(),
        None
    );

    for bad in [
        "",
        "example.org",
        "ftp://example.org",
        "http://",
        "http://:5001",
        "http://user@example.org",
        "http://user:pw@example.org:1",
        "http://example.org:0",
        "http://example.org:65536",
        "http://example.org:+80",
        "http://example.org:80:81",
        "http://[::1",
        "http://[::1]x",
        "http://[fe80::1%25eth0]:1",
        "http://[127.0.0.1]:1",
        "http://bücher.example",
        "http://a..b",
        "http://exa mple.org",
        &format!("http://{}.org", "a".repeat(64)),
        &format!("http://{}", "a.".repeat(1500)),
    ] {
        let e = Origin::from_url(bad).expect_err(bad);
        assert_eq!(e.code, ErrorCode::InvalidField, "{bad}");
    }
    // On the wire only the canonical spelling passes.
    for not_canonical in [
        "http://localhost",
        "http://LOCALHOST:1",
        "http://localhost:1/",
        "http://[0:0::1]:1",
    ] {
        assert!(Origin::parse(not_canonical).is_err(), "{not_canonical}");
    }
    let json = format!(
        r#"{{"username":"alice","origin":"http://Localhost:1","challenge":"{}","signature":"{}"}}"#,
        b64(&[1; CHALLENGE_LEN]),
        b64(b"s")
    );
    assert_eq!(
        code_of::<SignInRequest>(json.as_bytes()),
        ErrorCode::InvalidField
    );
    let json = json.replace("http://Localhost:1", "http://localhost:1");
    let req = parse::<SignInRequest>(json.as_bytes()).expect("canonical origin parses");
    assert_eq!(req.origin.as_str(), "http://localhost:1");
}

#[test]
fn timestamps_must_be_near_now() {
    assert!(check_timestamp(1_000_000, 1_000_000).is_ok());
    assert!(check_timestamp(1_000_000 - TIMESTAMP_TOLERANCE_SECS, 1_000_000).is_ok());
    assert_eq!(
        check_timestamp(1_000_000 - TIMESTAMP_TOLERANCE_SECS - 1, 1_000_000)
            .expect_err("stale")
            .code,
        ErrorCode::StaleTimestamp
    );
    assert!(check_timestamp(u64::MAX, 0).is_err());
}

#[test]
fn error_codes_map_client_mistakes_to_4xx() {
    for code in [
        ErrorCode::MalformedJson,
        ErrorCode::InvalidUtf8,
        ErrorCode::UnknownField,
        ErrorCode::InvalidUsername,
        ErrorCode::BlobTooLarge,
        ErrorCode::PayloadTooLarge,
        ErrorCode::InvalidSignature,
        ErrorCode::UsernameTaken,
        ErrorCode::NotAParty,
        ErrorCode::RateLimited,
    ] {
        let s = code.http_status();
        assert!((400..500).contains(&s), "{code} -> {s}");
    }
    assert_eq!(ErrorCode::Internal.http_status(), 500);
}
