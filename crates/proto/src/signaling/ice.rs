//! What the registry tells signed-in clients about NAT traversal: where
//! its STUN listener is, and short-lived credentials for the TURN relays
//! next to it (`GET /ice`); and whether either is on (`GET /healthz`).
//!
//! TURN credentials follow the "TURN REST" scheme that coturn checks with
//! `use-auth-secret`: the username is `<expiry>:<name>` (expiry in Unix
//! seconds) and the password is base64 of HMAC-SHA1 over that username,
//! keyed with a secret the registry and the relay share. The relay needs no
//! account database and refuses the username once the expiry has passed.
//!
//! TURN server URIs are written as in RFC 7065:
//! `turn:HOST[:PORT][?transport=udp|tcp]` (`turns:` for TLS).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Default port of a `turn:` URI (RFC 8656 §3).
pub const TURN_DEFAULT_PORT: u16 = 3478;
/// Default port of a `turns:` URI (RFC 8656 §3).
pub const TURNS_DEFAULT_PORT: u16 = 5349;
/// Longest TURN URI accepted, in bytes.
pub const MAX_TURN_URI_LEN: usize = 300;

/// `GET /ice`: the registry's STUN port and TURN credentials for the
/// signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IceConfig {
    /// UDP port of the registry's STUN Binding listener, at the host name
    /// the client reached the registry by; `None` when it has none.
    pub stun_port: Option<u16>,
    /// One entry per configured TURN URI; empty without a relay.
    pub turn: Vec<TurnCredential>,
}

/// Credentials for one TURN server.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnCredential {
    /// The server, as a TURN URI ([`TurnUri`] parses it).
    pub uri: String,
    /// `<expiry unix seconds>:<registry username>`.
    pub username: String,
    /// base64(HMAC-SHA1(shared secret, `username`)).
    pub credential: String,
    /// How long the credential was issued for, in seconds.
    pub ttl_secs: u64,
}

impl fmt::Debug for TurnCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The credential is a password for the relay: never in a log.
        f.debug_struct("TurnCredential")
            .field("uri", &self.uri)
            .field("username", &self.username)
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

/// `GET /healthz`: the registry is up, its version, and which NAT
/// traversal services it offers (shown on the app's settings page).
///
/// Unknown fields are allowed here, unlike in the other answers: this is
/// the one a client reads before it knows what the server is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `"ok"` whenever the server answers at all.
    pub status: String,
    /// The server's build version.
    pub version: String,
    /// The registry answers STUN Binding requests on UDP.
    #[serde(default)]
    pub stun: bool,
    /// The registry issues TURN credentials (`GET /ice` lists relays).
    #[serde(default)]
    pub turn: bool,
}

/// How a client reaches a TURN server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TurnTransport {
    /// Datagrams.
    Udp,
    /// A TCP stream (the fallback where UDP is blocked).
    Tcp,
}

impl TurnTransport {
    /// The `transport=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
        }
    }
}

/// A parsed TURN URI (RFC 7065).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TurnUri {
    /// `turns:`: the connection to the server runs over TLS (or DTLS).
    pub secure: bool,
    /// Host name or IP address, without IPv6 brackets.
    pub host: String,
    /// Port (the scheme's default when the URI names none).
    pub port: u16,
    /// Transport to the server (default UDP for `turn:`, TCP for `turns:`).
    pub transport: TurnTransport,
}

/// Why a string is not a TURN URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a TURN URI ({reason}): {uri:?}; expected turn:HOST:PORT?transport=udp|tcp")]
pub struct TurnUriError {
    /// The text given (cut to [`MAX_TURN_URI_LEN`]).
    pub uri: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl TurnUri {
    /// Parses `turn:HOST[:PORT][?transport=udp|tcp]` or the same with
    /// `turns:`. HOST is a name, an IPv4 address or a bracketed IPv6
    /// address.
    pub fn parse(text: &str) -> Result<Self, TurnUriError> {
        let fail = |reason| TurnUriError {
            uri: text.chars().take(MAX_TURN_URI_LEN).collect(),
            reason,
        };
        if text.len() > MAX_TURN_URI_LEN {
            return Err(fail("too long"));
        }
        let (secure, rest) = if let Some(rest) = text.strip_prefix("turn:") {
            (false, rest)
        } else if let Some(rest) = text.strip_prefix("turns:") {
            (true, rest)
        } else {
            return Err(fail("the scheme must be turn: or turns:"));
        };
        let (authority, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let transport = match query {
            None if secure => TurnTransport::Tcp,
            None => TurnTransport::Udp,
            Some("transport=udp") => TurnTransport::Udp,
            Some("transport=tcp") => TurnTransport::Tcp,
            Some(_) => return Err(fail("the only query is transport=udp or transport=tcp")),
        };
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| fail("an IPv6 address needs its closing ]"))?;
            if host.parse::<core::net::Ipv6Addr>().is_err() {
                return Err(fail("the bracketed host is not an IPv6 address"));
            }
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| fail("junk after ]"))?),
            };
            (host, port)
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port {
            None if secure => TURNS_DEFAULT_PORT,
            None => TURN_DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n != 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(fail("the port must be a number from 1 to 65535")),
            },
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
        if !host_ok {
            return Err(fail("the host must be a DNS name or an IP address"));
        }
        Ok(Self {
            secure,
            host: host.to_owned(),
            port,
            transport,
        })
    }
}

impl fmt::Display for TurnUri {
    /// The canonical form: scheme, host, port and transport all spelled out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "turns" } else { "turn" };
        if self.host.contains(':') {
            write!(f, "{scheme}:[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{scheme}:{}:{}", self.host, self.port)?;
        }
        write!(f, "?transport={}", self.transport.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_uris_parse_with_defaults_and_print_canonically() {
        let cases = [
            (
                "turn:relay.example.org",
                "turn:relay.example.org:3478?transport=udp",
            ),
            (
                "turn:192.0.2.7:3479?transport=tcp",
                "turn:192.0.2.7:3479?transport=tcp",
            ),
            (
                "turn:[2001:db8::1]",
                "turn:[2001:db8::1]:3478?transport=udp",
            ),
            (
                "turn:[::1]:9000?transport=udp",
                "turn:[::1]:9000?transport=udp",
            ),
            (
                "turns:relay.example.org",
                "turns:relay.example.org:5349?transport=tcp",
            ),
        ];
        for (text, canonical) in cases {
            let uri = TurnUri::parse(text).expect(text);
            assert_eq!(uri.to_string(), canonical);
            assert_eq!(TurnUri::parse(canonical).expect(canonical), uri);
        }
        let v6 = TurnUri::parse("turn:[::1]:9000").expect("v6");
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 9000));
    }

    #[test]
    fn malformed_turn_uris_are_refused() {
        for bad in [
            "",
            "stun:relay.example.org",
            "turn:",
            "turn::3478",
            "turn:relay.example.org:0",
            "turn:relay.example.org:65536",
            "turn:relay.example.org:+5",
            "turn:relay.example.org:3478?transport=sctp",
            "turn:relay.example.org?foo=bar",
            "turn:[::1",
            "turn:[not-v6]:3478",
            "turn:[::1]x",
            "turn:relay example.org",
            "turn:user@relay.example.org",
        ] {
            assert!(TurnUri::parse(bad).is_err(), "{bad:?} parsed");
        }
        let long = format!("turn:{}", "a".repeat(400));
        let e = TurnUri::parse(&long).expect_err("too long");
        assert!(e.uri.len() <= MAX_TURN_URI_LEN);
    }

    #[test]
    fn a_turn_credential_does_not_print_its_password() {
        let c = TurnCredential {
            uri: "turn:relay.example.org:3478?transport=udp".into(),
            username: "1700000000:alice".into(),
            credential: "c2VjcmV0LXBhc3N3b3Jk".into(),
            ttl_secs: 3600,
        };
        assert!(!format!("{c:?}").contains("c2VjcmV0"));
    }
}
