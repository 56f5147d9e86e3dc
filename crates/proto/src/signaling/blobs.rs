//! Binary fields that travel as base64: keys, signatures, handshake blobs
//! and sign-in challenges, each with a size cap checked before decoding.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::json::field_error;
use super::{
    CHALLENGE_LEN, ErrorCode, MAX_HANDSHAKE_BLOB_LEN, MAX_IDENTITY_KEY_LEN, MAX_SIGNATURE_LEN,
    SignalingError,
};

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
