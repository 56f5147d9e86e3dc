//! `GET /ice`: the registry's STUN port and TURN credentials, resolved
//! into the servers a call gathers candidates with.

use proto::signaling::IceConfig;

use super::{RegistryClient, RegistryError};
use crate::net::servers::{self, IceServers};

impl RegistryClient {
    /// The registry's answer to `GET /ice` as it came (signed in).
    pub async fn ice_config(&self) -> Result<IceConfig, RegistryError> {
        self.authed(|c, base| c.get(format!("{base}/ice"))).await
    }

    /// The STUN and TURN servers for a call: STUN at the registry URL's
    /// host and the port the registry names, each usable TURN URI resolved
    /// (entries that cannot be used are left out; see
    /// [`servers::resolve`]).
    pub async fn ice_servers(&self) -> Result<IceServers, RegistryError> {
        let ice = self.ice_config().await?;
        let url = reqwest::Url::parse(&self.base)
            .map_err(|e| RegistryError::Config(format!("registry URL: {e}")))?;
        // An IPv6 host comes bracketed, as in the URL.
        let host = url
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .ok_or_else(|| RegistryError::Config("the registry URL has no host".into()))?;
        Ok(servers::resolve(host, &ice).await)
    }
}
