//! Signaling messages from the network (registry WebSocket frames, REST
//! request and response bodies): parsing never panics, and every message
//! that parses serializes back to JSON that parses to the same value.
//!
//! The corpus holds valid JSON of every request, socket frame, push and
//! response type, so mutations start inside the field checks (usernames,
//! base64 blobs, call ids, origins) rather than in the JSON syntax.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::signaling::{
    AcceptRequest, CallStatus, ChallengeRequest, ChallengeResponse, ClientMessage, ContactList,
    ErrorBody, HandshakeBlob, HangupRequest, IncomingCalls, InitiateRequest, Origin,
    RegisterRequest, RegisterResponse, RejectRequest, RotateKeyRequest, SearchQuery, ServerEvent,
    SignInRequest, SignInResponse, UserInfo, UserList, Validate, parse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Parses as the registry or the client would and checks the round trip.
fn request<T>(data: &[u8])
where
    T: DeserializeOwned + Validate + Serialize + PartialEq + core::fmt::Debug,
{
    if let Ok(v) = parse::<T>(data) {
        let again = serde_json::to_vec(&v).expect("a parsed message serializes");
        assert_eq!(parse::<T>(&again).ok(), Some(v));
    }
}

/// Response bodies: the client reads them with serde alone.
fn response<T>(data: &[u8])
where
    T: DeserializeOwned + Serialize + PartialEq + core::fmt::Debug,
{
    if let Ok(v) = serde_json::from_slice::<T>(data) {
        let again = serde_json::to_vec(&v).expect("a parsed message serializes");
        assert_eq!(serde_json::from_slice::<T>(&again).ok(), Some(v));
    }
}

fuzz_target!(|data: &[u8]| {
    request::<ClientMessage>(data);
    request::<ServerEvent>(data);
    request::<RegisterRequest>(data);
    request::<ChallengeRequest>(data);
    request::<SignInRequest>(data);
    request::<RotateKeyRequest>(data);
    request::<SearchQuery>(data);
    request::<InitiateRequest>(data);
    request::<AcceptRequest>(data);
    request::<RejectRequest>(data);
    request::<HangupRequest>(data);
    response::<ContactList>(data);
    response::<RegisterResponse>(data);
    response::<ChallengeResponse>(data);
    response::<SignInResponse>(data);
    response::<UserInfo>(data);
    response::<UserList>(data);
    response::<CallStatus>(data);
    response::<IncomingCalls>(data);
    response::<ErrorBody>(data);
    if let Ok(text) = core::str::from_utf8(data) {
        // The registry URL a user typed, and a blob checked without decoding.
        if let Ok(origin) = Origin::from_url(text) {
            let again = Origin::from_url(&origin.to_string()).expect("an origin re-parses");
            assert_eq!(again, origin);
        }
        if let Ok(blob) = HandshakeBlob::from_base64(text) {
            // from_base64 promises exactly what decoding accepts.
            assert_eq!(blob.to_bytes().len(), blob.len());
        }
    }
});
