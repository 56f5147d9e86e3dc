//! Signaling messages spoken between clients and the registry.
//!
//! These are the JSON bodies of the registry's REST endpoints and the frames
//! of its push WebSocket, shared by the server, the engine's client, the CLI
//! and the app so that all of them agree on one wire format.
//!
//! Design rules:
//!
//! * **Valid by construction.** Fields that carry rules have their own types
//!   ([`Username`], [`CallId`], [`HandshakeBlob`], ...) whose deserializers
//!   enforce the rule, and every struct denies unknown fields. A value of a
//!   request type therefore obeys the limits below; [`parse`] turns any
//!   violation into a [`SignalingError`] with a stable [`ErrorCode`], never
//!   a panic.
//! * **Opaque handshake.** The caller's signed Offer and the callee's signed
//!   Answer travel as base64 blobs. The registry checks only their size; it
//!   cannot read a media key from them nor forge one, because they are signed
//!   by identity keys it does not hold.
//! * **Same bytes on both sides.** The messages that identity keys sign
//!   (registration, sign-in, key rotation) are built by [`register_message`],
//!   [`sign_in_message`] and [`rotate_key_message`], so client and server can
//!   never disagree on them.
//! * **No clock.** Times are Unix seconds carried in fields or passed in as
//!   `now`; nothing here reads the system clock.
//!
//! The module is split by topic: [`ErrorCode`] and [`SignalingError`]
//! (`error`), [`parse`] and [`Validate`] (`json`), names and call ids
//! (`names`), the registry [`Origin`] (`origin`), base64 byte fields
//! (`blobs`), accounts and sign-in (`account`), directory and presence
//! (`directory`), calls (`calls`), the push socket (`socket`) and STUN/TURN
//! service details (`ice`). Every item
//! is re-exported here, so paths are `proto::signaling::X`.

/// Shortest accepted username, in bytes.
pub const USERNAME_MIN_LEN: usize = 3;
/// Longest accepted username, in bytes.
pub const USERNAME_MAX_LEN: usize = 32;
/// Largest encoded public identity key accepted, in bytes (before base64).
///
/// A hybrid Ed25519 + ML-DSA-65 key is about 2 KiB; the cap leaves room for
/// framing without letting a client park megabytes in the directory.
pub const MAX_IDENTITY_KEY_LEN: usize = 4 * 1024;
/// Largest encoded hybrid signature accepted, in bytes (before base64).
pub const MAX_SIGNATURE_LEN: usize = 8 * 1024;
/// Largest signed Offer or Answer blob relayed, in bytes (before base64).
///
/// An Offer holds an identity key, an X-Wing encapsulation key, candidates
/// and a hybrid signature: about 7 KiB. Twice that is plenty.
pub const MAX_HANDSHAKE_BLOB_LEN: usize = 16 * 1024;
/// Length of a sign-in challenge, in bytes.
///
/// The bytes are opaque to clients; the registry packs a random nonce, an
/// expiry and a MAC into them so that it need not remember what it issued.
pub const CHALLENGE_LEN: usize = 56;
/// Length of a call id, in bytes (it travels as twice as many hex digits).
pub const CALL_ID_LEN: usize = 16;
/// Longest registry origin (`scheme://host:port`) accepted, in bytes.
pub const MAX_ORIGIN_LEN: usize = 300;
/// Longest bearer token accepted, in characters.
pub const MAX_TOKEN_LEN: usize = 512;
/// Most usernames one presence subscription may name.
pub const MAX_SUBSCRIPTIONS: usize = 1000;
/// Most users one directory search returns.
pub const MAX_SEARCH_RESULTS: u32 = 100;
/// Largest HTTP request body the registry reads, in bytes.
pub const MAX_REQUEST_BODY: usize = 64 * 1024;
/// Largest WebSocket message a client may send, in bytes.
pub const MAX_CLIENT_WS_MESSAGE: usize = 48 * 1024;
/// How far a signed timestamp may be from the verifier's clock, in seconds.
pub const TIMESTAMP_TOLERANCE_SECS: u64 = 300;

/// Domain of the registration signature (DESIGN §2).
pub const REGISTER_DOMAIN: &[u8] = b"pqvoice/register/v1";
/// Domain of the signature over a sign-in challenge and the registry's
/// origin. Version 2 added the origin; a v1 signature never verifies.
pub const SIGN_IN_DOMAIN: &[u8] = b"pqvoice/sign-in/v2";
/// Domain of the key-rotation signatures (by the old and by the new key).
pub const ROTATE_KEY_DOMAIN: &[u8] = b"pqvoice/rotate-key/v1";

// `json` comes first: it defines the `text_serde!` macro the field types use.
#[macro_use]
mod json;

mod account;
mod blobs;
mod calls;
mod directory;
mod error;
mod ice;
mod names;
mod origin;
mod socket;

/// Lowercase hex: the workspace's one encoder ([`crate::hex::encode`]),
/// under the name the registry has always imported it by.
pub use crate::hex::encode as hex;
pub use account::{
    ChallengeRequest, ChallengeResponse, RegisterRequest, RegisterResponse, RotateKeyRequest,
    SignInRequest, SignInResponse, check_timestamp, register_message, rotate_key_message,
    sign_in_message,
};
pub use blobs::{Challenge, HandshakeBlob, IdentityKeyBytes, SignatureBytes};
pub use calls::{
    AcceptRequest, CallAction, CallState, CallStatus, HangupRequest, IncomingCalls,
    InitiateRequest, Party, RejectRequest, next_call_state,
};
pub use directory::{
    ContactList, MAX_CONTACTS, Presence, PresenceInfo, SearchQuery, UserInfo, UserList,
};
pub use error::{ErrorBody, ErrorCode, SignalingError};
pub use ice::{
    Health, IceConfig, MAX_TURN_URI_LEN, TURN_DEFAULT_PORT, TURNS_DEFAULT_PORT, TurnCredential,
    TurnTransport, TurnUri, TurnUriError,
};
pub use json::{Validate, parse};
pub use names::{CallId, Username};
pub use origin::Origin;
pub use socket::{ClientMessage, ServerEvent};
