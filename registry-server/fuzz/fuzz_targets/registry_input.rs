//! The registry's own handling of client input: a push-socket frame, an
//! `Authorization` header and the bearer token inside it, a declared body
//! length, and every request body type. Nothing may panic, and the
//! fields of a token that splits must be its own text.
//!
//! `registry-server/src/client_input.rs` is compiled into this target by
//! path: it depends on proto alone, so the fuzz build stays the size of
//! proto's instead of the whole server's. The request bodies go through
//! `proto::signaling::parse`, as the server's `Body` extractor does.
#![no_main]

#[path = "../../src/client_input.rs"]
mod client_input;

use libfuzzer_sys::fuzz_target;
use proto::signaling::{
    AcceptRequest, ChallengeRequest, HangupRequest, InitiateRequest, RegisterRequest,
    RejectRequest, RotateKeyRequest, SearchQuery, SignInRequest, hex, parse,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = client_input::client_frame(data) {
        // A frame is answered by request id; reading it must not fail.
        let _ = frame.request_id();
    }
    if let Some(token) = client_input::bearer_token(data)
        && let Some(fields) = client_input::token_fields(token)
    {
        // Hex decoding takes lowercase digits only, so encoding gives the
        // text back; the other fields are the token's own text.
        assert_eq!(hex(&fields.tag), fields.tag_hex);
        assert!(token.ends_with(&hex(&fields.mac)));
        assert!(token.starts_with(fields.username.as_str()));
    }
    let _ = client_input::declared_len(data);
    let _ = parse::<RegisterRequest>(data);
    let _ = parse::<ChallengeRequest>(data);
    let _ = parse::<SignInRequest>(data);
    let _ = parse::<RotateKeyRequest>(data);
    let _ = parse::<SearchQuery>(data);
    let _ = parse::<InitiateRequest>(data);
    let _ = parse::<AcceptRequest>(data);
    let _ = parse::<RejectRequest>(data);
    let _ = parse::<HangupRequest>(data);
});
