//! The registry's STUN and TURN servers, as the phone's calls use them.
//!
//! Asking the registry costs a round trip, and the caller's side would pay
//! it before every offer, so the answer is kept: the phone asks when it
//! connects, and a call reuses what it got while it is fresh. TURN
//! credentials expire (the TURN REST scheme puts the expiry in the
//! username), so servers with TURN are asked for again once half of the
//! shortest credential's life is over; a call never starts with a
//! credential about to lapse mid-allocation.
//!
//! A registry that cannot say (down, too old to know `/ice`, slow) gives
//! no servers: calls that need none (same host, same LAN, a forwarded
//! port) still work. That answer is kept only briefly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::net::IceServers;
use crate::registry_client::RegistryClient;

/// How long servers without TURN credentials (nothing that expires) are
/// reused: the registry's STUN port rarely changes.
pub const PLAIN_REUSE: Duration = Duration::from_secs(600);
/// How long a failed fetch stands for "no servers" before it is tried
/// again, so that a registry without `/ice` does not cost every call a
/// round trip.
pub const FAILED_REUSE: Duration = Duration::from_secs(30);
/// The longest a call waits for the registry's answer.
pub const FETCH_TIMEOUT: Duration = Duration::from_millis(1500);

/// The expiry (Unix seconds) in a TURN REST username, `<expiry>:<name>`.
fn credential_expiry(username: &str) -> Option<u64> {
    username.split_once(':')?.0.parse().ok()
}

/// How long servers fetched at `now_unix` may be reused: half the life
/// left in the shortest-lived TURN credential, or [`PLAIN_REUSE`] when
/// there is none. A credential whose expiry cannot be read is not reused.
pub fn reuse_for(servers: &IceServers, now_unix: u64) -> Duration {
    servers
        .turn
        .iter()
        .map(|t| match credential_expiry(&t.username) {
            Some(expiry) => Duration::from_secs(expiry.saturating_sub(now_unix) / 2),
            None => Duration::ZERO,
        })
        .min()
        .unwrap_or(PLAIN_REUSE)
}

struct Fetched {
    servers: Result<IceServers, String>,
    at: Instant,
    reuse: Duration,
}

/// The servers of one registry, fetched on demand and kept while fresh.
pub(super) struct IceCache {
    client: Arc<RegistryClient>,
    held: Mutex<Option<Fetched>>,
}

impl IceCache {
    pub(super) fn new(client: Arc<RegistryClient>) -> Self {
        Self {
            client,
            held: Mutex::new(None),
        }
    }

    /// The servers for a call: the kept ones while fresh, else the
    /// registry's answer; none when the registry cannot say.
    pub(super) async fn for_call(&self) -> IceServers {
        match self.get(false).await {
            Ok(servers) => servers,
            Err(e) => {
                tracing::debug!(error = %e, "no STUN/TURN servers from the registry");
                IceServers::default()
            }
        }
    }

    /// The servers, asked for again when stale or when `refresh`; `Err`
    /// says why the registry could not tell.
    pub(super) async fn get(&self, refresh: bool) -> Result<IceServers, String> {
        // Held across the request: calls that start together share one.
        let mut held = self.held.lock().await;
        if !refresh
            && let Some(f) = held.as_ref()
            && f.at.elapsed() < f.reuse
        {
            return f.servers.clone();
        }
        let servers = match tokio::time::timeout(FETCH_TIMEOUT, self.client.ice_servers()).await {
            Ok(Ok(servers)) => Ok(servers),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the registry did not answer in time".to_owned()),
        };
        let reuse = match &servers {
            Ok(s) => reuse_for(s, crate::clock::unix_now().as_secs()),
            Err(_) => FAILED_REUSE,
        };
        *held = Some(Fetched {
            servers: servers.clone(),
            at: Instant::now(),
            reuse,
        });
        servers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{TurnServer, TurnTransport};

    fn turn(username: &str) -> TurnServer {
        TurnServer {
            addr: "192.0.2.7:3478".parse().expect("addr"),
            transport: TurnTransport::Udp,
            username: username.to_owned(),
            password: zeroize::Zeroizing::new("secret".to_owned()),
        }
    }

    #[test]
    fn servers_without_turn_are_kept_for_the_plain_period() {
        let stun_only = IceServers {
            stun: vec!["192.0.2.1:3478".parse().expect("addr")],
            turn: Vec::new(),
        };
        assert_eq!(reuse_for(&stun_only, 1_000), PLAIN_REUSE);
        assert_eq!(reuse_for(&IceServers::default(), 1_000), PLAIN_REUSE);
    }

    #[test]
    fn turn_credentials_are_refreshed_at_half_their_remaining_life() {
        let servers = IceServers {
            stun: Vec::new(),
            turn: vec![turn("4600:alice"), turn("2000:alice")],
        };
        // The shorter one (1000 s left) decides: half of it.
        assert_eq!(reuse_for(&servers, 1_000), Duration::from_secs(500));
        // An expired credential is not reused at all.
        assert_eq!(reuse_for(&servers, 3_000), Duration::ZERO);
    }

    #[test]
    fn a_credential_without_a_readable_expiry_is_not_reused() {
        let servers = IceServers {
            stun: Vec::new(),
            turn: vec![turn("alice")],
        };
        assert_eq!(reuse_for(&servers, 1_000), Duration::ZERO);
        let servers = IceServers {
            stun: Vec::new(),
            turn: vec![turn("soon:alice")],
        };
        assert_eq!(reuse_for(&servers, 1_000), Duration::ZERO);
    }
}
