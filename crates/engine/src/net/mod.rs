//! The call's network transport: one UDP socket, the addresses it can be
//! reached at, and a TURN relay when one is configured.
//!
//! A call owns exactly one UDP socket ([`MediaTransport`]). Before the offer
//! (caller) or while the phone rings (callee), [`gather`] opens it and learns
//! the candidates the handshake carries:
//!
//! - **host**: every usable interface address with the socket's port (an
//!   address the user forwarded, `advertise`, first; loopback last, because
//!   two calls on one machine still need it);
//! - **server-reflexive**: the public address a STUN server saw the socket
//!   send from (a Binding request sent from this very socket, so a NAT maps
//!   it exactly as it will map media);
//! - **relayed**: an allocation on a TURN server, made from this socket over
//!   UDP, or over TCP when that is the only way to reach the relay.
//!
//! After that the socket carries three kinds of traffic at once, told apart
//! by who sent a datagram and by its first byte (RFC 7983): STUN and TURN
//! messages (0..=3) and ChannelData (64..=79) are only ever accepted from the
//! TURN server, which the TURN client inside consumes; our sealed packets
//! start outside both ranges and come back as [`Route::Direct`], or as
//! [`Route::Relayed`] when the relay unwrapped them. Relayed media always
//! rides a bound channel, so a relayed datagram is the sealed packet plus a
//! four-byte header, the same for every packet of the call.
//!
//! Nothing here decides which path a call uses; the call's pair checker
//! (`call::path`) does, over [`Route`]s.

pub mod servers;

mod host;
mod reflexive;
mod relay;
mod socket;
mod transport;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proto::handshake::{Candidate, CandidateKind};

pub use servers::{IceServers, TurnServer, TurnTransport};
pub use transport::{MediaTransport, TransportCounters};

/// How a datagram travels between us and the peer.
///
/// Both variants name the peer's address: the one the datagram came from
/// or goes to. `Relayed` means it passes through our own TURN allocation
/// (the peer may itself be reached on a relayed address of its own, which is
/// still just an address to us).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// Straight from our socket to the peer's address.
    Direct(SocketAddr),
    /// Through our TURN allocation to the peer's address.
    Relayed(SocketAddr),
}

impl Route {
    /// The peer's address on this route.
    pub fn remote(self) -> SocketAddr {
        match self {
            Route::Direct(addr) | Route::Relayed(addr) => addr,
        }
    }

    /// True if the route goes through our relay.
    pub fn is_relayed(self) -> bool {
        matches!(self, Route::Relayed(_))
    }
}

/// What [`gather`] should open and look for.
#[derive(Debug, Clone)]
pub struct GatherOptions {
    /// The socket's address: `[::]:0` for a dual-stack socket on any port
    /// (falls back to `0.0.0.0:0` where IPv6 is off), or a fixed address.
    pub listen: SocketAddr,
    /// An address the user forwarded to this machine: offered first.
    pub advertise: Option<SocketAddr>,
    /// Offer `advertise` as the only direct address (no interfaces, no STUN).
    pub advertise_only: bool,
    /// Offer only the relayed address and send only through the relay, so
    /// the peer never learns this machine's addresses.
    pub relay_only: bool,
    /// How long gathering may take; after that, what has arrived is offered.
    pub timeout: Duration,
}

/// The default gathering budget: the issue allows the caller 500 ms before
/// the offer goes out with whatever candidates it has.
pub const GATHER_TIMEOUT: Duration = Duration::from_millis(500);

impl Default for GatherOptions {
    fn default() -> Self {
        GatherOptions {
            listen: socket::ANY_DUAL_STACK,
            advertise: None,
            advertise_only: false,
            relay_only: false,
            timeout: GATHER_TIMEOUT,
        }
    }
}

/// The result of [`gather`]: the candidates to put into the offer or answer,
/// and the transport that owns the socket they belong to.
pub struct Gathered {
    /// Ordered best first (by priority).
    pub candidates: Vec<Candidate>,
    /// The call's socket, with its relay allocation if one was made.
    pub transport: MediaTransport,
}

impl std::fmt::Debug for Gathered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gathered")
            .field("candidates", &self.candidates)
            .field("transport", &self.transport)
            .finish()
    }
}

/// Why a call's transport could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The UDP socket could not be opened.
    #[error("cannot open the call's UDP socket on {addr}: {source}")]
    Socket {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Waiting on the socket failed (the OS refused a poll).
    #[error("cannot wait on the call's socket: {0}")]
    Poll(#[source] std::io::Error),
    /// Only relayed candidates may be offered, and no relay allocation was
    /// made (none configured, unreachable, or it refused us).
    #[error("this call must go through a relay, and no relay could be reached")]
    RelayRequired,
    /// Nothing at all to offer: no interface address, no reflexive address,
    /// no relay.
    #[error("no network address to offer for the call")]
    NoCandidates,
}

/// Opens the call's socket and learns its candidates (blocking, at most
/// `opts.timeout` plus a few milliseconds).
///
/// Host candidates are known at once; the STUN and TURN exchanges run in
/// parallel over the same socket (TURN over TCP on its own stream) and
/// whatever has answered when the time is up is offered. With both a UDP
/// and a TCP relay answering, the UDP one is kept.
pub fn gather(servers: &IceServers, opts: &GatherOptions) -> Result<Gathered, NetError> {
    let started = Instant::now();
    let deadline = started + opts.timeout;
    let mut transport = MediaTransport::open(opts.listen, opts.relay_only)?;
    let port = transport.local_addr().port();

    let mut candidates = Vec::new();
    if !opts.relay_only {
        candidates = host::candidates(
            transport.local_addr(),
            transport.is_dual_stack(),
            port,
            opts.advertise,
            opts.advertise_only,
        );
    }
    let stun: &[SocketAddr] = if opts.relay_only || opts.advertise_only {
        &[]
    } else {
        &servers.stun
    };
    let reflexive = transport.gather_remote(stun, &servers.turn, started, deadline)?;

    for (i, addr) in reflexive.into_iter().enumerate() {
        if candidates.iter().any(|c| c.addr == addr) {
            continue;
        }
        let pref = u16::MAX.saturating_sub(u16::try_from(i).unwrap_or(u16::MAX));
        candidates.push(Candidate::new(CandidateKind::ServerReflexive, addr, pref));
    }
    if let Some(relayed) = transport.relayed_addr() {
        candidates.push(Candidate::new(CandidateKind::Relayed, relayed, u16::MAX));
    } else if opts.relay_only {
        return Err(NetError::RelayRequired);
    }
    if candidates.is_empty() {
        return Err(NetError::NoCandidates);
    }
    candidates.sort_by_key(|c| std::cmp::Reverse(c.priority));
    // The handshake carries at most MAX_CANDIDATES; the relayed one has the
    // lowest priority but is the one that always works, so it stays and the
    // weakest direct ones go.
    if candidates.len() > proto::handshake::MAX_CANDIDATES {
        let relayed = candidates
            .pop()
            .filter(|c| c.kind == CandidateKind::Relayed);
        candidates.truncate(proto::handshake::MAX_CANDIDATES - usize::from(relayed.is_some()));
        candidates.extend(relayed);
    }
    tracing::debug!(
        count = candidates.len(),
        relayed = transport.relayed_addr().is_some(),
        took_ms = started.elapsed().as_millis() as u64,
        "gathered the call's candidates"
    );
    Ok(Gathered {
        candidates,
        transport,
    })
}
