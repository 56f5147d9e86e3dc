//! The STUN and TURN servers a call may use, as the registry hands them out
//! (`GET /ice`), resolved to socket addresses.
//!
//! STUN is the registry itself: its STUN listener answers on UDP at the
//! host the client reached the registry by, on the port `/ice` names. TURN
//! relays come as RFC 7065 URIs with TURN REST credentials (see
//! [`proto::signaling::IceConfig`]); `turn:` over UDP or TCP is supported,
//! `turns:` (TLS) is refused with a clear error until it is implemented.
//!
//! [`RegistryClient::ice_servers`](crate::registry_client::RegistryClient::ice_servers)
//! fetches and resolves; [`resolve`] is the part that turns an answer
//! into addresses.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use proto::signaling::TurnTransport;
use proto::signaling::{IceConfig, TurnCredential, TurnUri, TurnUriError};

/// The longest one host name lookup may take before it counts as failed.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the registry offers for NAT traversal.
#[derive(Debug, Clone, Default)]
pub struct IceServers {
    /// STUN servers (Binding requests for reflexive addresses): at most
    /// one IPv4 and one IPv6 address, IPv4 first.
    pub stun: Vec<SocketAddr>,
    /// TURN servers with their short-lived credentials, in the registry's
    /// order.
    pub turn: Vec<TurnServer>,
}

/// One TURN server and the credentials to use it.
#[derive(Clone)]
pub struct TurnServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Over what.
    pub transport: TurnTransport,
    /// The TURN REST username (`expiry:name`).
    pub username: String,
    /// The HMAC credential; never printed.
    pub password: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for TurnServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnServer")
            .field("addr", &self.addr)
            .field("transport", &self.transport)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why a TURN URI cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnUriUnusable {
    /// It is not a TURN URI.
    #[error(transparent)]
    Syntax(#[from] TurnUriError),
    /// `turns:` needs TLS to the relay, which this client does not speak.
    #[error(
        "{0}: TURN over TLS (turns:) is not supported yet; give the relay as \
         turn:HOST:PORT?transport=tcp or transport=udp"
    )]
    Tls(String),
    /// The host name did not resolve (or not in time).
    #[error("{uri}: cannot resolve {host}: {reason}")]
    Unresolved {
        /// The URI.
        uri: String,
        /// Its host.
        host: String,
        /// What the resolver said.
        reason: String,
    },
}

/// Parses a TURN URI this client can use: `turn:HOST[:PORT][?transport=udp|tcp]`.
pub fn parse_turn_uri(uri: &str) -> Result<TurnUri, TurnUriUnusable> {
    let parsed = TurnUri::parse(uri)?;
    if parsed.secure {
        return Err(TurnUriUnusable::Tls(uri.to_owned()));
    }
    Ok(parsed)
}

/// The addresses of `host` at `port`: an IP literal as it is, a name
/// through the system resolver (bounded by [`RESOLVE_TIMEOUT`]).
async fn lookup(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err("no addresses".to_owned())
            } else {
                Ok(addrs)
            }
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {RESOLVE_TIMEOUT:?}")),
    }
}

/// The first IPv4 and the first IPv6 address of `addrs`, IPv4 first.
fn one_per_family(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let v4 = addrs.iter().find(|a| a.is_ipv4());
    let v6 = addrs.iter().find(|a| a.is_ipv6());
    v4.into_iter().chain(v6).copied().collect()
}

/// One TURN credential resolved to a server. A relay is used at one
/// address: IPv4 when the name has one (relayed addresses are IPv4 by
/// default, and a dual-stack media socket reaches it either way).
pub async fn resolve_turn(credential: &TurnCredential) -> Result<TurnServer, TurnUriUnusable> {
    let uri = parse_turn_uri(&credential.uri)?;
    let unresolved = |reason| TurnUriUnusable::Unresolved {
        uri: credential.uri.clone(),
        host: uri.host.clone(),
        reason,
    };
    let addrs = lookup(&uri.host, uri.port).await.map_err(unresolved)?;
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| unresolved("no addresses".to_owned()))?;
    Ok(TurnServer {
        addr,
        transport: uri.transport,
        username: credential.username.clone(),
        password: zeroize::Zeroizing::new(credential.credential.clone()),
    })
}

/// `ice` (the registry's answer) as addresses: STUN at `registry_host`
/// (the host of the registry URL, a name or an IP literal) and the `/ice`
/// port; each TURN URI resolved. What cannot be used (a `turns:` URI, a
/// name that does not resolve) is left out with a warning, so one bad entry
/// does not cost the call the others.
pub async fn resolve(registry_host: &str, ice: &IceConfig) -> IceServers {
    let mut servers = IceServers::default();
    if let Some(port) = ice.stun_port {
        match lookup(registry_host, port).await {
            Ok(addrs) => servers.stun = one_per_family(&addrs),
            Err(reason) => {
                tracing::warn!(host = registry_host, %reason, "cannot resolve the registry for STUN");
            }
        }
    }
    for credential in &ice.turn {
        match resolve_turn(credential).await {
            Ok(server) => servers.turn.push(server),
            Err(e) => tracing::warn!(error = %e, "TURN server left out"),
        }
    }
    servers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(uri: &str) -> TurnCredential {
        TurnCredential {
            uri: uri.to_owned(),
            username: "1700000000:alice".to_owned(),
            credential: "bm90LWEtcmVhbC1wYXNzd29yZA==".to_owned(),
            ttl_secs: 3600,
        }
    }

    #[test]
    fn usable_turn_uris_parse_and_turns_is_refused_clearly() {
        let u = parse_turn_uri("turn:192.0.2.1:3479?transport=tcp").expect("usable");
        assert_eq!(
            (u.host.as_str(), u.port, u.transport),
            ("192.0.2.1", 3479, TurnTransport::Tcp)
        );
        let u = parse_turn_uri("turn:[2001:db8::2]").expect("usable");
        assert_eq!((u.port, u.transport), (3478, TurnTransport::Udp));
        let e = parse_turn_uri("turns:relay.example.org").expect_err("TLS");
        assert!(matches!(e, TurnUriUnusable::Tls(_)));
        assert!(e.to_string().contains("not supported yet"), "{e}");
        assert!(matches!(
            parse_turn_uri("turn:relay.example.org:99999"),
            Err(TurnUriUnusable::Syntax(_))
        ));
    }

    #[tokio::test]
    async fn answers_resolve_to_addresses_and_unusable_entries_are_left_out() {
        let ice = IceConfig {
            stun_port: Some(5001),
            turn: vec![
                credential("turns:relay.example.org"),
                credential("turn:127.0.0.1:3478?transport=tcp"),
                credential("turn:[::1]:3479"),
            ],
        };
        let servers = resolve("127.0.0.1", &ice).await;
        assert_eq!(servers.stun, [SocketAddr::from(([127, 0, 0, 1], 5001))]);
        let turn: Vec<(SocketAddr, TurnTransport)> =
            servers.turn.iter().map(|t| (t.addr, t.transport)).collect();
        assert_eq!(
            turn,
            [
                ("127.0.0.1:3478".parse().expect("addr"), TurnTransport::Tcp),
                ("[::1]:3479".parse().expect("addr"), TurnTransport::Udp),
            ]
        );
        assert_eq!(
            servers.turn[0].password.as_str(),
            "bm90LWEtcmVhbC1wYXNzd29yZA=="
        );
        // The password stays out of logs.
        assert!(!format!("{servers:?}").contains("bm90LWEt"));

        let none = resolve(
            "::1",
            &IceConfig {
                stun_port: None,
                turn: Vec::new(),
            },
        )
        .await;
        assert!(none.stun.is_empty() && none.turn.is_empty());
        let v6 = resolve(
            "::1",
            &IceConfig {
                stun_port: Some(7),
                turn: Vec::new(),
            },
        )
        .await;
        assert_eq!(v6.stun, ["[::1]:7".parse::<SocketAddr>().expect("addr")]);
    }
}
