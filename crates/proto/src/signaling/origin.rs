//! The registry origin a sign-in is bound to.

use std::fmt;

use serde::de::Deserializer;
use serde::{Deserialize, Serialize, Serializer};

use super::json::field_error;
use super::{ErrorCode, MAX_ORIGIN_LEN, SignalingError};

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
