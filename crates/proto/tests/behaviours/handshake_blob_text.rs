//! The handshake blob travels as text: the registry checks an offer or
//! answer without decoding it and forwards the very characters it got. The
//! check must accept exactly what the base64 decoder accepts (and the size
//! cap), or a blob the caller could send would be refused, or a blob the
//! callee cannot decode would be relayed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use proptest::prelude::*;
use proto::signaling::{ErrorCode, HandshakeBlob, InitiateRequest, MAX_HANDSHAKE_BLOB_LEN, parse};

/// Characters near the alphabet's edges, padding, and a few that are never
/// valid, so random strings hit every branch of the check.
fn base64ish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            8 => proptest::sample::select(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".to_vec()),
            2 => Just(b'='),
            1 => proptest::sample::select(b"-_ .\n\0~".to_vec()),
        ],
        0..24,
    )
    .prop_map(|v| String::from_utf8(v).expect("ASCII"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_check_accepts_exactly_what_the_decoder_accepts(text in base64ish()) {
        let decoded = BASE64.decode(text.as_bytes());
        match HandshakeBlob::from_base64(&text) {
            Ok(blob) => {
                let bytes = decoded.expect("accepted text must decode");
                prop_assert_eq!(blob.len(), bytes.len());
                prop_assert_eq!(blob.to_bytes(), bytes);
                prop_assert_eq!(blob.as_base64(), text.as_str());
            }
            Err(e) => match decoded {
                // Valid base64 of nothing: refused as empty, not as base64.
                Ok(bytes) => {
                    prop_assert!(bytes.is_empty());
                    prop_assert_eq!(e.code, ErrorCode::InvalidField);
                }
                Err(_) => prop_assert_eq!(e.code, ErrorCode::InvalidBase64),
            },
        }
    }

    #[test]
    fn encoded_bytes_round_trip_unchanged(bytes in proptest::collection::vec(any::<u8>(), 1..300)) {
        let blob = HandshakeBlob::new(bytes.clone()).expect("fits");
        prop_assert_eq!(blob.as_base64(), BASE64.encode(&bytes));
        let again = HandshakeBlob::from_base64(blob.as_base64()).expect("own text is valid");
        prop_assert_eq!(again.to_bytes(), bytes);
    }
}

#[test]
fn the_size_cap_is_on_the_decoded_bytes() {
    let at_cap = BASE64.encode(vec![7u8; MAX_HANDSHAKE_BLOB_LEN]);
    assert_eq!(
        HandshakeBlob::from_base64(&at_cap)
            .expect("at the cap")
            .len(),
        MAX_HANDSHAKE_BLOB_LEN
    );
    let over = BASE64.encode(vec![7u8; MAX_HANDSHAKE_BLOB_LEN + 1]);
    assert_eq!(
        HandshakeBlob::from_base64(&over).expect_err("over").code,
        ErrorCode::BlobTooLarge
    );
    // Still a whole number of quads, but one byte too many once decoded.
    let one_more = format!("{}AA==", &at_cap);
    assert_eq!(
        HandshakeBlob::from_base64(&one_more)
            .expect_err("over")
            .code,
        ErrorCode::BlobTooLarge
    );
}

#[test]
fn a_relayed_message_carries_the_same_characters() {
    let text = BASE64.encode((0..=255u8).collect::<Vec<_>>());
    let json = format!(r#"{{"callee":"bob","offer":"{text}"}}"#);
    let request: InitiateRequest = parse(json.as_bytes()).expect("valid message");
    let out = serde_json::to_string(&request).expect("serializes");
    assert!(
        out.contains(&text),
        "the offer's text is forwarded as received"
    );
}
