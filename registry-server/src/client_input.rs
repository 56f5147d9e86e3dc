//! What a client sends, taken apart: push-socket frames, the
//! `Authorization` header, the bearer token inside it, and a declared body
//! length. Request bodies go through [`proto::signaling::parse`] directly
//! (see [`crate::limits::Body`]).
//!
//! This file depends on proto and std alone, on purpose:
//! `registry-server/fuzz` includes it by path and fuzzes exactly this code
//! without building the whole server (database, HTTP stack, TLS) under
//! instrumentation. Keep `crate::` out of it.

use proto::signaling::{ClientMessage, MAX_TOKEN_LEN, SignalingError, Username, parse};

/// Length of the key tag a token carries (a prefix of the SHA-256 of the
/// identity key it was issued for).
pub const KEY_TAG_LEN: usize = 16;

/// One text frame from a client's push socket.
pub fn client_frame(frame: &[u8]) -> Result<ClientMessage, SignalingError> {
    parse::<ClientMessage>(frame)
}

/// The token of an `Authorization: Bearer <token>` header value, if the
/// value is visible ASCII (what HTTP allows) and names that scheme.
pub fn bearer_token(value: &[u8]) -> Option<&str> {
    if !value.iter().all(|&b| b == b'\t' || (32..127).contains(&b)) {
        return None;
    }
    let text = core::str::from_utf8(value).ok()?;
    Some(text.strip_prefix("Bearer ")?.trim())
}

/// A `Content-Length` value, if it is a decimal number.
pub fn declared_len(value: &[u8]) -> Option<u64> {
    core::str::from_utf8(value).ok()?.parse().ok()
}

/// The fields of a bearer token, `<username>:<expires_at>:<key tag
/// hex>:<mac hex>`, before its MAC is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFields<'a> {
    /// Whose token it claims to be.
    pub username: Username,
    /// When it expires, Unix seconds.
    pub expires_at: u64,
    /// The key tag as sent (the MAC covers this text).
    pub tag_hex: &'a str,
    /// The key tag.
    pub tag: [u8; KEY_TAG_LEN],
    /// The MAC over the other fields.
    pub mac: [u8; 32],
}

/// Splits a token into its fields; `None` when it is not well-formed.
pub fn token_fields(token: &str) -> Option<TokenFields<'_>> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let mut parts = token.splitn(4, ':');
    let (Some(name), Some(exp), Some(tag_hex), Some(mac_hex)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    Some(TokenFields {
        username: Username::parse(name).ok()?,
        expires_at: exp.parse().ok()?,
        tag_hex,
        tag: decode_hex(tag_hex)?,
        mac: decode_hex(mac_hex)?,
    })
}

/// Exactly `N` bytes from `2N` lowercase hex digits.
pub fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let text = text.as_bytes();
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_needs_the_scheme_and_visible_ascii() {
        assert_eq!(bearer_token(b"Bearer abc "), Some("abc"));
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bearer ab\xffc"), None);
        assert_eq!(bearer_token(b"Bearer ab\nc"), None);
    }

    #[test]
    fn token_fields_take_lowercase_hex_of_exact_length_only() {
        let tag = "ab".repeat(KEY_TAG_LEN);
        let mac = "cd".repeat(32);
        let t = format!("alice:99:{tag}:{mac}");
        let f = token_fields(&t).expect("well-formed");
        assert_eq!((f.username.as_str(), f.expires_at), ("alice", 99));
        assert_eq!((f.tag, f.mac), ([0xab; KEY_TAG_LEN], [0xcd; 32]));
        assert!(token_fields(&format!("alice:99:{}:{mac}", tag.to_uppercase())).is_none());
        assert!(token_fields(&format!("alice:99:{tag}a:{mac}")).is_none());
        assert!(token_fields(&format!("alice:99:{tag}")).is_none());
        assert!(token_fields(&format!("Alice:99:{tag}:{mac}")).is_none());
    }
}
