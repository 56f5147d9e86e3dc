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
//!   (registration, sign-in, key rotation) are built by the functions at the
//!   end of this module, so client and server can never disagree on them.
//! * **No clock.** Times are Unix seconds carried in fields or passed in as
//!   `now`; nothing here reads the system clock.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

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

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Stable machine-readable error codes of the registry API.
///
/// The snake_case names are part of the wire format: clients match on them,
/// so a variant is never renamed, only added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not well-formed JSON, or a value has the wrong type.
    MalformedJson,
    /// The body is not valid UTF-8.
    InvalidUtf8,
    /// The body has a field this message does not define.
    UnknownField,
    /// The body lacks a required field.
    MissingField,
    /// A username breaks the 3–32 characters of `a-z 0-9 _ . -` rule.
    InvalidUsername,
    /// A binary field is not valid standard base64.
    InvalidBase64,
    /// A binary field is larger than its cap.
    BlobTooLarge,
    /// A call id is not 32 lowercase hex digits.
    InvalidCallId,
    /// A field breaks a rule other than the ones above (length, range).
    InvalidField,
    /// The request body is larger than the registry accepts.
    PayloadTooLarge,
    /// The identity key cannot be decoded.
    InvalidIdentityKey,
    /// A signature does not verify under the key it claims.
    InvalidSignature,
    /// A signed timestamp is too far from the server's clock.
    StaleTimestamp,
    /// The username is already bound to another key.
    UsernameTaken,
    /// No user has this name.
    UnknownUser,
    /// The sign-in challenge is unknown, used or expired.
    InvalidChallenge,
    /// A sign-in was signed for another registry's origin than this one.
    WrongOrigin,
    /// The request lacks a valid bearer token.
    Unauthorized,
    /// The old key named in a rotation is not the current key.
    KeyMismatch,
    /// No call has this id.
    CallNotFound,
    /// The caller of this endpoint is not the party allowed to do it.
    NotAParty,
    /// The call is not in a state that allows this step.
    InvalidTransition,
    /// The callee has no live connection to the registry.
    CalleeOffline,
    /// The caller is already ringing or talking.
    AlreadyInCall,
    /// A user tried to call themselves.
    SelfCall,
    /// Too many requests; retry later.
    RateLimited,
    /// The registry has reached its connection cap; retry later.
    TooManyConnections,
    /// No such endpoint.
    NotFound,
    /// The endpoint exists but not with this method.
    MethodNotAllowed,
    /// The request took too long.
    Timeout,
    /// The server is shutting down or its storage is unavailable.
    Unavailable,
    /// A fault inside the server; the detail is in its log, not here.
    Internal,
}

impl ErrorCode {
    /// The wire name of this code, as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed_json",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::UnknownField => "unknown_field",
            Self::MissingField => "missing_field",
            Self::InvalidUsername => "invalid_username",
            Self::InvalidBase64 => "invalid_base64",
            Self::BlobTooLarge => "blob_too_large",
            Self::InvalidCallId => "invalid_call_id",
            Self::InvalidField => "invalid_field",
            Self::PayloadTooLarge => "payload_too_large",
            Self::InvalidIdentityKey => "invalid_identity_key",
            Self::InvalidSignature => "invalid_signature",
            Self::StaleTimestamp => "stale_timestamp",
            Self::UsernameTaken => "username_taken",
            Self::UnknownUser => "unknown_user",
            Self::InvalidChallenge => "invalid_challenge",
            Self::WrongOrigin => "wrong_origin",
            Self::Unauthorized => "unauthorized",
            Self::KeyMismatch => "key_mismatch",
            Self::CallNotFound => "call_not_found",
            Self::NotAParty => "not_a_party",
            Self::InvalidTransition => "invalid_transition",
            Self::CalleeOffline => "callee_offline",
            Self::AlreadyInCall => "already_in_call",
            Self::SelfCall => "self_call",
            Self::RateLimited => "rate_limited",
            Self::TooManyConnections => "too_many_connections",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Timeout => "timeout",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status the registry answers with for this code.
    ///
    /// Client mistakes map to 4xx; only [`ErrorCode::Internal`] and
    /// [`ErrorCode::Unavailable`] are 5xx.
    pub fn http_status(self) -> u16 {
        match self {
            Self::MalformedJson
            | Self::InvalidUtf8
            | Self::UnknownField
            | Self::MissingField
            | Self::InvalidUsername
            | Self::InvalidBase64
            | Self::BlobTooLarge
            | Self::InvalidCallId
            | Self::InvalidField
            | Self::InvalidIdentityKey
            | Self::StaleTimestamp
            | Self::SelfCall => 400,
            Self::InvalidSignature
            | Self::InvalidChallenge
            | Self::WrongOrigin
            | Self::Unauthorized => 401,
            Self::NotAParty => 403,
            Self::UnknownUser | Self::CallNotFound | Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Timeout => 408,
            Self::UsernameTaken
            | Self::KeyMismatch
            | Self::InvalidTransition
            | Self::CalleeOffline
            | Self::AlreadyInCall => 409,
            Self::PayloadTooLarge => 413,
            Self::RateLimited => 429,
            Self::TooManyConnections | Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }

    fn from_wire_name(name: &str) -> Option<Self> {
        ALL_CODES.iter().copied().find(|c| c.as_str() == name)
    }
}

/// Every code, for reverse lookups from a wire name.
const ALL_CODES: &[ErrorCode] = &[
    ErrorCode::MalformedJson,
    ErrorCode::InvalidUtf8,
    ErrorCode::UnknownField,
    ErrorCode::MissingField,
    ErrorCode::InvalidUsername,
    ErrorCode::InvalidBase64,
    ErrorCode::BlobTooLarge,
    ErrorCode::InvalidCallId,
    ErrorCode::InvalidField,
    ErrorCode::PayloadTooLarge,
    ErrorCode::InvalidIdentityKey,
    ErrorCode::InvalidSignature,
    ErrorCode::StaleTimestamp,
    ErrorCode::UsernameTaken,
    ErrorCode::UnknownUser,
    ErrorCode::InvalidChallenge,
    ErrorCode::WrongOrigin,
    ErrorCode::Unauthorized,
    ErrorCode::KeyMismatch,
    ErrorCode::CallNotFound,
    ErrorCode::NotAParty,
    ErrorCode::InvalidTransition,
    ErrorCode::CalleeOffline,
    ErrorCode::AlreadyInCall,
    ErrorCode::SelfCall,
    ErrorCode::RateLimited,
    ErrorCode::TooManyConnections,
    ErrorCode::NotFound,
    ErrorCode::MethodNotAllowed,
    ErrorCode::Timeout,
    ErrorCode::Unavailable,
    ErrorCode::Internal,
];

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected message: a stable code plus a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct SignalingError {
    /// What kind of mistake it is.
    pub code: ErrorCode,
    /// What exactly was wrong, for people; never contains secrets.
    pub detail: String,
}

impl SignalingError {
    /// An error with `code` and `detail`.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }

    /// The JSON error body for this error.
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code,
            message: self.detail.clone(),
        }
    }
}

/// The JSON body of every error answer of the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// Stable code to match on.
    pub code: ErrorCode,
    /// Explanation for people; do not match on it.
    pub message: String,
}

// Deserializers of the field types below report a violated rule as
// "<code>: <detail>" through serde's custom error; `parse` reads the code
// back so the caller gets the precise reason instead of "malformed JSON".
fn field_error<E: de::Error>(code: ErrorCode, detail: impl fmt::Display) -> E {
    E::custom(format_args!("{}: {detail}", code.as_str()))
}

/// Serde for a newtype over text: serialized as its string, deserialized
/// through `$check` (a `fn(&str) -> Result<Self, SignalingError>`), whose
/// error code and detail become the serde error.
macro_rules! text_serde {
    ($name:ident, $check:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::$check(&text).map_err(|e| field_error(e.code, e.detail))
            }
        }
    };
}

/// Requests that carry rules spanning several fields.
///
/// Rules that concern one field are enforced by that field's type while
/// parsing; `validate` adds the rest. [`parse`] calls both.
pub trait Validate {
    /// Checks the rules that field types cannot check alone.
    fn validate(&self) -> Result<(), SignalingError>;
}

/// Parses and validates one JSON message from untrusted bytes.
///
/// Never panics. Errors name the rule that was broken: bad UTF-8, malformed
/// JSON, an unknown or missing field, or a field-specific code such as
/// [`ErrorCode::InvalidUsername`].
pub fn parse<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, SignalingError> {
    if bytes.len() > MAX_REQUEST_BODY {
        return Err(SignalingError::new(
            ErrorCode::PayloadTooLarge,
            format!("message is larger than {MAX_REQUEST_BODY} bytes"),
        ));
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(SignalingError::new(
            ErrorCode::InvalidUtf8,
            format!("body is not UTF-8 (at byte {})", e.valid_up_to()),
        ));
    }
    let value: T = serde_json::from_slice(bytes).map_err(classify_json_error)?;
    value.validate()?;
    Ok(value)
}

fn classify_json_error(e: serde_json::Error) -> SignalingError {
    use serde_json::error::Category;
    let text = e.to_string();
    let code = match e.classify() {
        Category::Data => {
            if let Some((name, _)) = text.split_once(": ")
                && let Some(code) = ErrorCode::from_wire_name(name)
            {
                code
            } else if text.starts_with("unknown field") || text.starts_with("unknown variant") {
                ErrorCode::UnknownField
            } else if text.starts_with("missing field") {
                ErrorCode::MissingField
            } else {
                ErrorCode::MalformedJson
            }
        }
        Category::Syntax | Category::Eof | Category::Io => ErrorCode::MalformedJson,
    };
    // Strip our own "<code>: " prefix so the detail reads naturally.
    let detail = match text.split_once(": ") {
        Some((name, rest)) if ErrorCode::from_wire_name(name).is_some() => rest.to_owned(),
        _ => text,
    };
    SignalingError::new(code, detail)
}

// ---------------------------------------------------------------------------
// Field types
// ---------------------------------------------------------------------------

/// A registry username: 3–32 bytes of `a-z`, `0-9`, `_`, `.`, `-`.
///
/// Lowercase only, so that two names that look alike to people are one name
/// to the registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    /// Checks `name` against the username rule.
    pub fn parse(name: &str) -> Result<Self, SignalingError> {
        let len = name.len();
        if !(USERNAME_MIN_LEN..=USERNAME_MAX_LEN).contains(&len) {
            return Err(SignalingError::new(
                ErrorCode::InvalidUsername,
                format!(
                    "username must be {USERNAME_MIN_LEN} to {USERNAME_MAX_LEN} characters, got {len}"
                ),
            ));
        }
        if let Some(bad) = name.chars().find(|c| !is_username_char(*c)) {
            return Err(SignalingError::new(
                ErrorCode::InvalidUsername,
                format!("username may only contain a-z 0-9 _ . - (found {bad:?})"),
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_username_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-')
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_serde!(Username, parse);

/// Identifies one call: 16 random bytes chosen by the registry, written as
/// 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(String);

impl CallId {
    /// The id for 16 bytes (the registry draws them at random).
    pub fn from_bytes(bytes: [u8; CALL_ID_LEN]) -> Self {
        Self(hex(&bytes))
    }

    /// Checks that `text` is 32 lowercase hex digits.
    pub fn parse(text: &str) -> Result<Self, SignalingError> {
        let ok = text.len() == 2 * CALL_ID_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(SignalingError::new(
                ErrorCode::InvalidCallId,
                "call id must be 32 lowercase hex digits",
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_serde!(CallId, parse);

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The registry a sign-in is for, as `scheme://host:port` in one canonical
/// spelling, so that a client and a registry that derive it on their own
/// compare equal strings.
///
/// A client takes it from the URL its user configured, never from anything
/// a registry says, and signs it with the challenge: a registry that
/// relays another registry's challenge gets a signature naming itself,
/// which the other registry refuses (DESIGN §8).
///
/// Canonical means: scheme `http` or `https`; the port always written (80
/// or 443 when the URL leaves it out); the host lowercase, with one
/// trailing dot dropped, an IPv4 address in plain dotted decimal, or an
/// IPv6 address in brackets in its shortest form. Paths, queries and
/// fragments are not part of it. User names in the URL, IPv6 zone ids,
/// non-ASCII names (use the punycode form) and port 0 are refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    text: String,
    https: bool,
    /// The host without brackets.
    host: String,
    port: u16,
}

impl Origin {
    /// The canonical origin of `url` (`http://` or `https://`, any case).
    pub fn from_url(url: &str) -> Result<Self, SignalingError> {
        let bad = |why: &str| {
            SignalingError::new(
                ErrorCode::InvalidField,
                format!("registry URL is unusable: {why}"),
            )
        };
        if url.len() > 2048 {
            return Err(bad("longer than 2048 bytes"));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("it must start with http:// or https://"))?;
        let (https, default_port) = if scheme.eq_ignore_ascii_case("https") {
            (true, 443)
        } else if scheme.eq_ignore_ascii_case("http") {
            (false, 80)
        } else {
            return Err(bad("it must start with http:// or https://"));
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.contains('@') {
            return Err(bad("it must not carry a user name"));
        }
        // An IPv6 literal is the only host with colons, and it is bracketed.
        let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
            let (addr, after) = inner
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 address lacks its closing bracket"))?;
            let ip: core::net::Ipv6Addr = addr
                .parse()
                .map_err(|_| bad("the bracketed host is not a plain IPv6 address"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad("junk after the IPv6 address"))?,
                ),
            };
            (ip.to_string(), port)
        } else {
            let (host, port) = match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            };
            (canonical_host(host).map_err(|why| bad(&why))?, port)
        };
        let port = match port {
            None | Some("") => default_port,
            Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
                match p.parse::<u16>() {
                    Ok(0) | Err(_) => return Err(bad("the port must be 1 to 65535")),
                    Ok(n) => n,
                }
            }
            Some(_) => return Err(bad("the port must be 1 to 65535")),
        };
        let scheme = if https { "https" } else { "http" };
        let text = if host.contains(':') {
            format!("{scheme}://[{host}]:{port}")
        } else {
            format!("{scheme}://{host}:{port}")
        };
        if text.len() > MAX_ORIGIN_LEN {
            return Err(bad("the host name is too long"));
        }
        Ok(Self {
            text,
            https,
            host,
            port,
        })
    }

    /// Checks that `text` is an origin in its canonical spelling (what a
    /// sign-in request carries).
    pub fn parse(text: &str) -> Result<Self, SignalingError> {
        let not_canonical = || {
            SignalingError::new(
                ErrorCode::InvalidField,
                "origin must be a canonical scheme://host:port",
            )
        };
        if text.len() > MAX_ORIGIN_LEN {
            return Err(not_canonical());
        }
        match Self::from_url(text) {
            Ok(origin) if origin.text == text => Ok(origin),
            _ => Err(not_canonical()),
        }
    }

    /// The canonical text, as signed.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host: a lowercase name or an IP address, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host as an IP address, when it is one.
    pub fn ip(&self) -> Option<core::net::IpAddr> {
        self.host.parse().ok()
    }

    /// The port (explicit or the scheme's default).
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Lowercases and checks a host that is not an IPv6 literal: an IPv4
/// address or DNS labels of `a-z 0-9 - _`.
fn canonical_host(host: &str) -> Result<String, String> {
    if let Ok(ip) = host.parse::<core::net::Ipv4Addr>() {
        return Ok(ip.to_string());
    }
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if host.len() > 253 {
        return Err("the host name is too long".into());
    }
    for label in host.split('.') {
        let ok = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(format!(
                "{host:?} is not a host name (non-ASCII names must be given in punycode)"
            ));
        }
    }
    Ok(host)
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Origin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Origin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&text).map_err(|e| field_error(e.code, e.detail))
    }
}

fn decode_capped<E: de::Error>(text: &str, max: usize, what: &str) -> Result<Vec<u8>, E> {
    // Refuse before decoding so an oversized blob costs no allocation.
    if text.len() > base64_len(max) {
        return Err(field_error(
            ErrorCode::BlobTooLarge,
            format_args!("{what} is larger than {max} bytes"),
        ));
    }
    let bytes = BASE64.decode(text).map_err(|_| {
        field_error(
            ErrorCode::InvalidBase64,
            format_args!("{what} is not standard base64"),
        )
    })?;
    if bytes.len() > max {
        return Err(field_error(
            ErrorCode::BlobTooLarge,
            format_args!("{what} is larger than {max} bytes"),
        ));
    }
    Ok(bytes)
}

const fn base64_len(raw: usize) -> usize {
    raw.div_ceil(3) * 4
}

/// Defines a base64-carried byte string with a size cap checked on parse.
macro_rules! capped_bytes {
    ($(#[$doc:meta])* $name:ident, $max:expr, $what:literal, min = $min:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(Vec<u8>);

        impl $name {
            /// Largest accepted length in bytes.
            pub const MAX_LEN: usize = $max;

            /// Wraps `bytes`, refusing empty or oversized input.
            pub fn new(bytes: Vec<u8>) -> Result<Self, SignalingError> {
                if bytes.len() > Self::MAX_LEN {
                    return Err(SignalingError::new(
                        ErrorCode::BlobTooLarge,
                        format!("{} is larger than {} bytes", $what, Self::MAX_LEN),
                    ));
                }
                if bytes.len() < $min {
                    return Err(SignalingError::new(
                        ErrorCode::InvalidField,
                        format!("{} is shorter than {} bytes", $what, $min),
                    ));
                }
                Ok(Self(bytes))
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }

            /// Gives back the raw bytes.
            pub fn into_bytes(self) -> Vec<u8> {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Length only: these can be long and need not fill logs.
                write!(f, "{}({} bytes)", stringify!($name), self.0.len())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&BASE64.encode(&self.0))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                let bytes = decode_capped::<D::Error>(&text, Self::MAX_LEN, $what)?;
                Self::new(bytes).map_err(|e| field_error(e.code, e.detail))
            }
        }
    };
}

capped_bytes!(
    /// An encoded public identity key (`PublicIdentity::to_bytes`).
    IdentityKeyBytes,
    MAX_IDENTITY_KEY_LEN,
    "identity key",
    min = 1
);
capped_bytes!(
    /// An encoded hybrid signature (`HybridSignature::to_bytes`).
    SignatureBytes,
    MAX_SIGNATURE_LEN,
    "signature",
    min = 1
);
/// A signed Offer or Answer, relayed unchanged by the registry.
///
/// Unlike the other byte fields it is kept as the canonical base64 text it
/// arrived in: the registry only checks and forwards it, so it never
/// decodes the ~7 KB offer nor encodes it again for the push. The check is
/// exactly what decoding would accept (standard alphabet, padding, zero
/// trailing bits) plus the size cap, so [`HandshakeBlob::to_bytes`] cannot
/// fail.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HandshakeBlob(Box<str>);

impl HandshakeBlob {
    /// Largest accepted length in bytes (decoded).
    pub const MAX_LEN: usize = MAX_HANDSHAKE_BLOB_LEN;

    /// Wraps `bytes`, refusing empty or oversized input.
    pub fn new(bytes: Vec<u8>) -> Result<Self, SignalingError> {
        if bytes.len() > Self::MAX_LEN {
            return Err(too_large("handshake blob", Self::MAX_LEN));
        }
        if bytes.is_empty() {
            return Err(empty_blob());
        }
        Ok(Self(BASE64.encode(&bytes).into_boxed_str()))
    }

    /// Checks `text` as the JSON field would be checked: standard base64
    /// of 1 to [`Self::MAX_LEN`] bytes.
    pub fn from_base64(text: &str) -> Result<Self, SignalingError> {
        if canonical_base64_len(text, Self::MAX_LEN, "handshake blob")? == 0 {
            return Err(empty_blob());
        }
        Ok(Self(text.into()))
    }

    /// The base64 text, as it travels.
    pub fn as_base64(&self) -> &str {
        &self.0
    }

    /// Length of the decoded bytes.
    pub fn len(&self) -> usize {
        let pad = self.0.bytes().rev().take_while(|&b| b == b'=').count();
        self.0.len() / 4 * 3 - pad
    }

    /// Never true: an empty blob is refused. (Here for clippy's
    /// `len_without_is_empty`.)
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The decoded bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        BASE64
            .decode(self.0.as_bytes())
            .expect("a HandshakeBlob holds only canonical base64")
    }
}

impl fmt::Debug for HandshakeBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HandshakeBlob({} bytes)", self.len())
    }
}

text_serde!(HandshakeBlob, from_base64);

/// Index of each byte in the standard base64 alphabet, or `INVALID`.
const B64_INDEX: [u8; 256] = {
    let mut t = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < alphabet.len() {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};
const INVALID: u8 = 0xff;

/// Validates `text` as canonical, padded standard base64 (what
/// `BASE64.decode` accepts) of at most `max` bytes, without decoding it;
/// returns the decoded length.
fn canonical_base64_len(text: &str, max: usize, what: &str) -> Result<usize, SignalingError> {
    if text.len() > base64_len(max) {
        return Err(too_large(what, max));
    }
    let invalid = || {
        SignalingError::new(
            ErrorCode::InvalidBase64,
            format!("{what} is not standard base64"),
        )
    };
    let b = text.as_bytes();
    if !b.len().is_multiple_of(4) {
        return Err(invalid());
    }
    if b.is_empty() {
        return Ok(0);
    }
    let idx = |c: u8| B64_INDEX[usize::from(c)];
    // Only the last two characters may be padding.
    let (data, tail) = b.split_at(b.len() - 2);
    if data.iter().any(|&c| idx(c) == INVALID) {
        return Err(invalid());
    }
    // A padded quad must leave its unused low bits zero.
    let pad = match *tail {
        [b'=', b'='] if idx(data[data.len() - 1]) & 0x0f == 0 => 2,
        [c, b'='] if idx(c) != INVALID && idx(c) & 0x03 == 0 => 1,
        [c, d] if idx(c) != INVALID && idx(d) != INVALID => 0,
        _ => return Err(invalid()),
    };
    let len = b.len() / 4 * 3 - pad;
    if len > max {
        return Err(too_large(what, max));
    }
    Ok(len)
}

fn too_large(what: &str, max: usize) -> SignalingError {
    SignalingError::new(
        ErrorCode::BlobTooLarge,
        format!("{what} is larger than {max} bytes"),
    )
}

fn empty_blob() -> SignalingError {
    SignalingError::new(ErrorCode::InvalidField, "handshake blob is empty")
}
capped_bytes!(
    /// A sign-in challenge: exactly [`CHALLENGE_LEN`] bytes chosen by the
    /// registry.
    Challenge,
    CHALLENGE_LEN,
    "challenge",
    min = CHALLENGE_LEN
);

// ---------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------

/// `POST /register`: binds a username to an identity key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The name to claim.
    pub username: Username,
    /// The identity key to bind it to.
    pub identity_key: IdentityKeyBytes,
    /// When the client signed, Unix seconds.
    pub timestamp: u64,
    /// Signature by `identity_key` over [`register_message`] in
    /// [`REGISTER_DOMAIN`].
    pub signature: SignatureBytes,
}

/// Answer to a successful registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterResponse {
    /// The claimed name.
    pub username: Username,
    /// Hex fingerprint of the bound key.
    pub fingerprint: String,
}

/// `POST /auth/challenge`: asks for a fresh challenge to sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// Who wants to sign in.
    pub username: Username,
}

/// A fresh single-use challenge.
///
/// Every well-formed name gets one, registered or not: the answer does not
/// tell which names exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeResponse {
    /// Bytes to sign with [`sign_in_message`].
    pub challenge: Challenge,
    /// After this Unix second the challenge is refused.
    pub expires_at: u64,
}

/// `POST /auth/token`: trades a signed challenge for a bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// Who signs in.
    pub username: Username,
    /// The registry's origin as the client derived it from its configured
    /// URL; the registry refuses origins that are not its own.
    pub origin: Origin,
    /// The challenge the registry handed out.
    pub challenge: Challenge,
    /// Signature by the registered key over [`sign_in_message`] in
    /// [`SIGN_IN_DOMAIN`].
    pub signature: SignatureBytes,
}

/// A short-lived bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// After this Unix second the token is refused.
    pub expires_at: u64,
}

/// `POST /account/rotate-key`: replaces the identity key of a username.
///
/// Signed by the old key (authority over the name) and by the new key
/// (proof that the requester holds it, so nobody can bind someone else's
/// public key to their name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateKeyRequest {
    /// Whose key changes.
    pub username: Username,
    /// The key that replaces the current one.
    pub new_identity_key: IdentityKeyBytes,
    /// When the client signed, Unix seconds.
    pub timestamp: u64,
    /// Signature by the current key over [`rotate_key_message`].
    pub old_signature: SignatureBytes,
    /// Signature by the new key over the same message.
    pub new_signature: SignatureBytes,
}

impl Validate for RegisterRequest {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}
impl Validate for ChallengeRequest {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}
impl Validate for SignInRequest {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}
impl Validate for RotateKeyRequest {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Directory and presence
// ---------------------------------------------------------------------------

/// Whether a user is connected to the registry, as far as the asker may
/// know: a user shares presence only with the people on their contact
/// list ([`ContactList`]), and everyone else sees them `Offline` with no
/// `last_seen`. Being in a call is not presence; a caller learns it only
/// from a `busy` answer when ringing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// No live connection to the registry, or not shared with the asker.
    Offline,
    /// Connected.
    Online,
}

/// `GET /fetch/<username>`: a user's key and presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInfo {
    /// The user's name.
    pub username: Username,
    /// Their current identity key (pin it on first use).
    pub identity_key: IdentityKeyBytes,
    /// Hex fingerprint of `identity_key`.
    pub fingerprint: String,
    /// Their presence now.
    pub presence: Presence,
    /// Last time they were connected, Unix seconds (`None`: never).
    pub last_seen: Option<u64>,
}

/// One row of a directory search: name and presence, without the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceInfo {
    /// The user's name.
    pub username: Username,
    /// Their presence now.
    pub presence: Presence,
    /// Last time they were connected, Unix seconds (`None`: never).
    pub last_seen: Option<u64>,
}

/// `GET /users?q=<prefix>&limit=<n>`: query string of a directory search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Username prefix; empty lists everyone (paged by `limit`).
    #[serde(default)]
    pub q: String,
    /// At most this many results (1 to [`MAX_SEARCH_RESULTS`], default 50).
    #[serde(default = "default_search_limit")]
    pub limit: u32,
}

fn default_search_limit() -> u32 {
    50
}

impl Validate for SearchQuery {
    fn validate(&self) -> Result<(), SignalingError> {
        if self.q.len() > USERNAME_MAX_LEN || !self.q.chars().all(is_username_char) {
            return Err(SignalingError::new(
                ErrorCode::InvalidField,
                "q must be a username prefix (a-z 0-9 _ . -, at most 32)",
            ));
        }
        if !(1..=MAX_SEARCH_RESULTS).contains(&self.limit) {
            return Err(SignalingError::new(
                ErrorCode::InvalidField,
                format!("limit must be 1 to {MAX_SEARCH_RESULTS}"),
            ));
        }
        Ok(())
    }
}

/// Answer of a directory search, sorted by username.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserList {
    /// Matching users.
    pub users: Vec<PresenceInfo>,
}

/// Most names one contact list may hold.
pub const MAX_CONTACTS: usize = 1000;

/// `GET /contacts` (and the answer to `PUT` / `DELETE /contacts/<name>`):
/// the people the signed-in user added, sorted by name. Each of them may
/// see the user's presence; nobody else can.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactList {
    /// At most [`MAX_CONTACTS`] names.
    pub contacts: Vec<Username>,
}

// ---------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------

/// Where a call stands (DESIGN §2).
///
/// `Ringing -> Active -> Ended`; `Ringing -> Rejected | Missed | Cancelled`;
/// `Busy` when the callee was already in a call. All but `Ringing` and
/// `Active` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// The callee has been told and has not answered yet.
    Ringing,
    /// The callee accepted; media flows between the peers.
    Active,
    /// A party hung up, or disconnected during the call.
    Ended,
    /// The callee declined.
    Rejected,
    /// Nobody answered before the ring timeout, or the callee went away.
    Missed,
    /// The caller gave up (or disconnected) while it rang.
    Cancelled,
    /// The callee was already in a call.
    Busy,
}

impl CallState {
    /// Whether no further transition is possible.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Ringing | Self::Active)
    }

    /// The wire name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ringing => "ringing",
            Self::Active => "active",
            Self::Ended => "ended",
            Self::Rejected => "rejected",
            Self::Missed => "missed",
            Self::Cancelled => "cancelled",
            Self::Busy => "busy",
        }
    }

    /// The state for a wire name (used by storage backends).
    pub fn from_wire_name(name: &str) -> Option<Self> {
        [
            Self::Ringing,
            Self::Active,
            Self::Ended,
            Self::Rejected,
            Self::Missed,
            Self::Cancelled,
            Self::Busy,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// What a party asks of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallAction {
    /// The callee picks up.
    Accept,
    /// The callee declines.
    Reject,
    /// Either party ends the call (the caller, while ringing: cancels).
    Hangup,
    /// The ring timeout fired.
    Timeout,
    /// The named side lost its connection to the registry.
    Disconnect,
}

/// Which side of a call someone is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The one who rang.
    Caller,
    /// The one being rung.
    Callee,
}

/// The call state machine: the state after `party` does `action` in
/// `state`, or the reason it is not allowed.
///
/// Both the registry and clients use it, so a transition one side accepts
/// the other accepts too. `Timeout` ignores `party`.
pub fn next_call_state(
    state: CallState,
    party: Party,
    action: CallAction,
) -> Result<CallState, SignalingError> {
    use CallAction as A;
    use CallState as S;
    let next = match (state, party, action) {
        (S::Ringing, Party::Callee, A::Accept) => S::Active,
        (S::Ringing, Party::Callee, A::Reject | A::Hangup) => S::Rejected,
        (S::Ringing, Party::Caller, A::Hangup | A::Disconnect) => S::Cancelled,
        (S::Ringing, Party::Callee, A::Disconnect) | (S::Ringing, _, A::Timeout) => S::Missed,
        (S::Active, _, A::Hangup | A::Disconnect) => S::Ended,
        (_, Party::Caller, A::Accept | A::Reject) => {
            return Err(SignalingError::new(
                ErrorCode::NotAParty,
                "only the callee can accept or reject a call",
            ));
        }
        (s, _, a) => {
            return Err(SignalingError::new(
                ErrorCode::InvalidTransition,
                format!("cannot {a:?} a call that is {}", s.as_str()),
            ));
        }
    };
    Ok(next)
}

/// `POST /call/initiate`: ring `callee` with a signed Offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitiateRequest {
    /// Whom to ring.
    pub callee: Username,
    /// The caller's signed handshake Offer, relayed unchanged.
    pub offer: HandshakeBlob,
}

/// `POST /call/accept`: pick up with a signed Answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The ringing call.
    pub call_id: CallId,
    /// The callee's signed handshake Answer, relayed unchanged.
    pub answer: HandshakeBlob,
}

/// `POST /call/reject`: decline a ringing call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// The ringing call.
    pub call_id: CallId,
}

/// `POST /call/hangup`: end a call (or cancel it while it rings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HangupRequest {
    /// The call.
    pub call_id: CallId,
}

impl Validate for InitiateRequest {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}
impl Validate for AcceptRequest {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}
impl Validate for RejectRequest {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}
impl Validate for HangupRequest {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}

/// A call as one of its parties sees it (`GET /call/status/<id>` and the
/// answers of the call endpoints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallStatus {
    /// The call.
    pub call_id: CallId,
    /// Who rang.
    pub caller: Username,
    /// Who was rung.
    pub callee: Username,
    /// Where it stands.
    pub state: CallState,
    /// When it was placed, Unix seconds.
    pub created_at: u64,
    /// When it last changed state, Unix seconds.
    pub updated_at: u64,
    /// The Offer, shown to the callee while it rings (polling fallback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<HandshakeBlob>,
    /// The Answer, shown to the caller once active (polling fallback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<HandshakeBlob>,
}

/// `GET /call/incoming`: calls ringing for the signed-in user (polling
/// fallback for clients without a WebSocket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingCalls {
    /// Ringing calls, each with its Offer.
    pub calls: Vec<CallStatus>,
}

// ---------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------

/// What a client sends on its push WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Replace the set of users whose presence changes are pushed.
    Subscribe {
        /// At most [`MAX_SUBSCRIPTIONS`] names.
        usernames: Vec<Username>,
    },
    /// Application-level liveness check; answered by [`ServerEvent::Pong`].
    Ping {
        /// Echoed back.
        nonce: u64,
    },
    /// `POST /call/initiate` over the socket: ring `callee`. Answered by
    /// [`ServerEvent::CallReply`] or [`ServerEvent::CallRefused`] with the
    /// same `req`.
    Initiate {
        /// The client's number for this request, echoed in the answer.
        req: u64,
        /// Whom to ring.
        callee: Username,
        /// The caller's signed handshake Offer, relayed unchanged.
        offer: HandshakeBlob,
    },
    /// `POST /call/accept` over the socket.
    Accept {
        /// Echoed in the answer.
        req: u64,
        /// The ringing call.
        call_id: CallId,
        /// The callee's signed handshake Answer, relayed unchanged.
        answer: HandshakeBlob,
    },
    /// `POST /call/reject` over the socket.
    Reject {
        /// Echoed in the answer.
        req: u64,
        /// The ringing call.
        call_id: CallId,
    },
    /// `POST /call/hangup` over the socket.
    Hangup {
        /// Echoed in the answer.
        req: u64,
        /// The call.
        call_id: CallId,
    },
}

impl ClientMessage {
    /// The request number of a call step; `None` for subscriptions and pings.
    pub fn request_id(&self) -> Option<u64> {
        match self {
            Self::Initiate { req, .. }
            | Self::Accept { req, .. }
            | Self::Reject { req, .. }
            | Self::Hangup { req, .. } => Some(*req),
            Self::Subscribe { .. } | Self::Ping { .. } => None,
        }
    }
}

impl Validate for ClientMessage {
    fn validate(&self) -> Result<(), SignalingError> {
        match self {
            Self::Subscribe { usernames } if usernames.len() > MAX_SUBSCRIPTIONS => {
                Err(SignalingError::new(
                    ErrorCode::InvalidField,
                    format!("at most {MAX_SUBSCRIPTIONS} subscriptions"),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// What the registry pushes on a client's WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServerEvent {
    /// First frame after connecting: the socket is live for `username`.
    Welcome {
        /// Whom this socket belongs to.
        username: Username,
        /// The registry's clock, Unix seconds.
        server_time: u64,
    },
    /// Someone rings: verify the Offer against the pinned key, then accept
    /// or reject.
    IncomingCall {
        /// The call.
        call_id: CallId,
        /// Who rings.
        caller: Username,
        /// The caller's signed Offer.
        offer: HandshakeBlob,
        /// When the call was placed, Unix seconds.
        created_at: u64,
    },
    /// The callee picked up (sent to the caller).
    Accepted {
        /// The call.
        call_id: CallId,
        /// The callee's signed Answer.
        answer: HandshakeBlob,
    },
    /// The callee declined (sent to the caller).
    Rejected {
        /// The call.
        call_id: CallId,
    },
    /// The call is over (sent to the party that did not end it).
    Ended {
        /// The call.
        call_id: CallId,
        /// Who hung up; `None` when a party disconnected.
        by: Option<Username>,
    },
    /// Nobody answered in time, or the callee went away (sent to both).
    Missed {
        /// The call.
        call_id: CallId,
        /// Who rang.
        caller: Username,
        /// Who was rung.
        callee: Username,
    },
    /// The callee was in another call (sent to the caller).
    Busy {
        /// The call.
        call_id: CallId,
        /// Who was busy.
        callee: Username,
    },
    /// The caller gave up while it rang (sent to the callee).
    Cancelled {
        /// The call.
        call_id: CallId,
    },
    /// A subscribed user's presence changed.
    Presence(PresenceInfo),
    /// Answer to [`ClientMessage::Ping`].
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
    /// A call step sent on the socket succeeded; `status` is what the
    /// matching HTTP endpoint would have answered.
    CallReply {
        /// The request's number.
        req: u64,
        /// The call after the step.
        status: CallStatus,
    },
    /// A call step sent on the socket was refused; nothing changed. The
    /// codes are those of the matching HTTP endpoint.
    CallRefused {
        /// The request's number.
        req: u64,
        /// Why.
        error: ErrorBody,
    },
    /// The last client message was refused; the socket stays open.
    Error(ErrorBody),
}

impl Validate for ServerEvent {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Signed messages
// ---------------------------------------------------------------------------

// Each field is written as a 4-byte big-endian length and the bytes, so no
// two different field lists give the same message. The domain is not part
// of these bytes: it is passed to `IdentityKeyPair::sign` separately.
fn put_field(out: &mut Vec<u8>, field: &[u8]) {
    let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(field);
}

/// The bytes signed (in [`REGISTER_DOMAIN`]) to bind `username` to
/// `identity_key` at `timestamp` (Unix seconds).
pub fn register_message(username: &Username, identity_key: &[u8], timestamp: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + username.0.len() + identity_key.len());
    put_field(&mut out, username.0.as_bytes());
    put_field(&mut out, identity_key);
    put_field(&mut out, &timestamp.to_be_bytes());
    out
}

/// The bytes signed (in [`SIGN_IN_DOMAIN`]) to answer `challenge` as
/// `username` at the registry whose origin is `origin`.
pub fn sign_in_message(username: &Username, origin: &Origin, challenge: &Challenge) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + username.0.len() + origin.text.len() + CHALLENGE_LEN);
    put_field(&mut out, username.0.as_bytes());
    put_field(&mut out, origin.text.as_bytes());
    put_field(&mut out, challenge.as_bytes());
    out
}

/// The bytes signed (in [`ROTATE_KEY_DOMAIN`], by both keys) to replace
/// `old_key` with `new_key` for `username` at `timestamp`.
pub fn rotate_key_message(
    username: &Username,
    old_key: &[u8],
    new_key: &[u8],
    timestamp: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + username.0.len() + old_key.len() + new_key.len());
    put_field(&mut out, username.0.as_bytes());
    put_field(&mut out, old_key);
    put_field(&mut out, new_key);
    put_field(&mut out, &timestamp.to_be_bytes());
    out
}

/// Whether a signed `timestamp` is within [`TIMESTAMP_TOLERANCE_SECS`] of
/// `now` (both Unix seconds).
pub fn check_timestamp(timestamp: u64, now: u64) -> Result<(), SignalingError> {
    if timestamp.abs_diff(now) > TIMESTAMP_TOLERANCE_SECS {
        return Err(SignalingError::new(
            ErrorCode::StaleTimestamp,
            format!(
                "timestamp is more than {TIMESTAMP_TOLERANCE_SECS} s away from the server clock"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_wire_name() {
        for code in ALL_CODES {
            let json = serde_json::to_string(code).expect("serializes");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(ErrorCode::from_wire_name(code.as_str()), Some(*code));
        }
    }
}
