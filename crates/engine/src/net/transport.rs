//! [`MediaTransport`]: the call's socket, its relay, and the demultiplexing
//! between them.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proto::handshake::CandidateKind;

use super::reflexive::BindingProbes;
use super::relay::{Received, Relay, RelayState};
use super::servers::{TurnServer, TurnTransport};
use super::socket::{self, normalise, on_wire};
use super::{NetError, Route};

/// Big enough for any UDP datagram.
const SCRATCH_LEN: usize = 65_536;

/// Maps the engine's clock onto the TURN client's (nanoseconds since the
/// transport was made).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    fn new() -> Self {
        Clock {
            epoch: Instant::now(),
        }
    }

    pub(crate) fn at(&self, now: Instant) -> stun_proto::Instant {
        let nanos = now.saturating_duration_since(self.epoch).as_nanos();
        stun_proto::Instant::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    pub(crate) fn now(&self) -> stun_proto::Instant {
        self.at(Instant::now())
    }

    fn back(&self, at: stun_proto::Instant) -> Instant {
        let since = at
            .checked_duration_since(stun_proto::Instant::from_nanos(0))
            .unwrap_or_default();
        self.epoch + since
    }
}

/// What went through the transport, for the call's statistics. Bytes are
/// the sealed packets' own bytes; the relay's framing is counted apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportCounters {
    /// Datagrams sent straight to the peer.
    pub direct_sent: u64,
    /// Their bytes.
    pub direct_sent_bytes: u64,
    /// Datagrams received straight from the peer.
    pub direct_received: u64,
    /// Their bytes.
    pub direct_received_bytes: u64,
    /// Packets sent through the relay.
    pub relay_sent: u64,
    /// Their bytes (without framing).
    pub relay_sent_bytes: u64,
    /// Packets received through the relay.
    pub relay_received: u64,
    /// Their bytes (without framing).
    pub relay_received_bytes: u64,
    /// Framing the relay path added, both ways: the ChannelData header
    /// (4 bytes a packet; over TCP padded to a multiple of four).
    pub relay_overhead_bytes: u64,
    /// Relayed sends dropped because their channel was still being bound.
    pub relay_unbound_drops: u64,
    /// Datagrams dropped because they looked like STUN or ChannelData and
    /// did not come from our TURN server (RFC 7983 ranges).
    pub foreign_dropped: u64,
    /// Direct datagrams dropped in relay-only mode.
    pub direct_refused: u64,
}

/// The call's UDP socket and, when one was allocated, its TURN relay.
///
/// Drive it from one poll: [`register`](Self::register) its sources, then on
/// every wake-up call [`recv`](Self::recv) until it returns `Ok(None)`, and
/// call [`handle_timeout`](Self::handle_timeout) when
/// [`poll_timeout`](Self::poll_timeout) passes.
pub struct MediaTransport {
    socket: mio::net::UdpSocket,
    local: SocketAddr,
    ipv6_socket: bool,
    relay_only: bool,
    /// While gathering, up to one relay per transport; afterwards the one
    /// kept (or none).
    relays: Vec<Relay>,
    probes: BindingProbes,
    clock: Clock,
    counters: TransportCounters,
    scratch: Box<[u8]>,
}

impl std::fmt::Debug for MediaTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaTransport")
            .field("local", &self.local)
            .field("relay_only", &self.relay_only)
            .field("relays", &self.relays)
            .finish()
    }
}

impl MediaTransport {
    /// A direct-only transport over a socket the caller opened (the echo
    /// test, tests). The socket is made non-blocking.
    pub fn from_socket(socket: std::net::UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        Ok(MediaTransport {
            socket: mio::net::UdpSocket::from_std(socket),
            local: normalise(local),
            ipv6_socket: local.is_ipv6(),
            relay_only: false,
            relays: Vec::new(),
            probes: BindingProbes::default(),
            clock: Clock::new(),
            counters: TransportCounters::default(),
            scratch: vec![0; SCRATCH_LEN].into_boxed_slice(),
        })
    }

    /// Opens the call's socket on `listen` (see [`super::GatherOptions`]).
    pub(crate) fn open(listen: SocketAddr, relay_only: bool) -> Result<Self, NetError> {
        let socket = socket::bind(listen).map_err(|source| NetError::Socket {
            addr: listen,
            source,
        })?;
        let mut transport = Self::from_socket(socket).map_err(|source| NetError::Socket {
            addr: listen,
            source,
        })?;
        transport.relay_only = relay_only;
        Ok(transport)
    }

    /// The socket's local address (normalised; `0.0.0.0` or `::` for a
    /// wildcard bind).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// True for an IPv6 socket, which (bound to `::`) also carries IPv4.
    pub(crate) fn is_dual_stack(&self) -> bool {
        self.ipv6_socket
    }

    /// Our address on the relay, if an allocation is held.
    pub fn relayed_addr(&self) -> Option<SocketAddr> {
        self.relays.iter().find_map(Relay::relayed_addr)
    }

    /// True if the call may only use the relay (nothing is sent direct).
    pub fn relay_only(&self) -> bool {
        self.relay_only
    }

    /// The transport the relay is reached over, if one is held.
    pub fn relay_transport(&self) -> Option<TurnTransport> {
        self.relays
            .iter()
            .find(|r| r.relayed_addr().is_some())
            .map(Relay::transport)
    }

    /// Registers its sources for reading: the UDP socket as `first_token`,
    /// the TURN server's TCP stream (if the relay runs over TCP) as
    /// `first_token + 1`. Both are edge-triggered: drain with [`recv`].
    ///
    /// [`recv`]: Self::recv
    pub fn register(
        &mut self,
        registry: &mio::Registry,
        first_token: mio::Token,
    ) -> io::Result<()> {
        registry.register(&mut self.socket, first_token, mio::Interest::READABLE)?;
        let second = mio::Token(first_token.0.wrapping_add(1));
        for relay in &mut self.relays {
            if let Some(stream) = relay.tcp_stream() {
                registry.register(
                    stream,
                    second,
                    mio::Interest::READABLE | mio::Interest::WRITABLE,
                )?;
            }
        }
        Ok(())
    }

    fn deregister(&mut self, registry: &mio::Registry) {
        let _ = registry.deregister(&mut self.socket);
        for relay in &mut self.relays {
            if let Some(stream) = relay.tcp_stream() {
                let _ = registry.deregister(stream);
            }
        }
    }

    /// After the handshake: permissions and channels on our relay for the
    /// peer's candidate addresses, so relayed checks can flow at once.
    pub fn prepare_peer(&mut self, peer: &[proto::handshake::Candidate], now: Instant) {
        let at = self.clock.at(now);
        // The client sends its requests 50 ms apart, so the order matters:
        // the addresses a relay can most likely reach first (the peer's own
        // relay, then its public mapping), private host addresses last.
        let mut ranked: Vec<&proto::handshake::Candidate> = peer.iter().collect();
        ranked.sort_by_key(|c| match c.kind {
            CandidateKind::Relayed => 0,
            CandidateKind::ServerReflexive => 1,
            CandidateKind::Host => 2,
        });
        let addrs: Vec<SocketAddr> = ranked.iter().map(|c| c.addr).collect();
        for relay in &mut self.relays {
            relay.prepare_peer(&addrs, at);
            relay.pump(&self.socket, self.ipv6_socket, at);
        }
    }

    /// Sends one sealed packet on `route`.
    ///
    /// Direct sends are refused (dropped, counted) in relay-only mode.
    /// Relayed sends go as ChannelData only: to a peer whose channel is not
    /// bound yet, binding starts and the packet is dropped (`Ok`), so every
    /// relayed datagram has the same size. A send error concerns that one
    /// datagram; the transport stays usable.
    pub fn send(&mut self, route: Route, packet: &[u8], now: Instant) -> io::Result<()> {
        match route {
            Route::Direct(peer) => {
                if self.relay_only {
                    self.counters.direct_refused += 1;
                    return Ok(());
                }
                match self.socket.send_to(packet, on_wire(peer, self.ipv6_socket)) {
                    Ok(_) => {
                        self.counters.direct_sent += 1;
                        self.counters.direct_sent_bytes += packet.len() as u64;
                        Ok(())
                    }
                    // A full socket buffer loses this one datagram, as the
                    // network might.
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(()),
                    Err(err) => Err(err),
                }
            }
            Route::Relayed(peer) => {
                let at = self.clock.at(now);
                let Some(relay) = self.relays.iter_mut().find(|r| r.relayed_addr().is_some())
                else {
                    return Err(io::Error::new(
                        io::ErrorKind::NotConnected,
                        "no relay allocation",
                    ));
                };
                let sent = relay.send(
                    &self.socket,
                    self.ipv6_socket,
                    peer,
                    packet,
                    &mut self.scratch,
                    at,
                );
                relay.pump(&self.socket, self.ipv6_socket, at);
                match sent {
                    Ok(Some(framing)) => {
                        self.counters.relay_sent += 1;
                        self.counters.relay_sent_bytes += packet.len() as u64;
                        self.counters.relay_overhead_bytes += framing as u64;
                        Ok(())
                    }
                    Ok(None) => {
                        self.counters.relay_unbound_drops += 1;
                        Ok(())
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(()),
                    Err(err) => Err(err),
                }
            }
        }
    }

    /// The next datagram from the peer side, copied into `buf`: its route
    /// and length. STUN and TURN traffic is consumed on the way; datagrams
    /// that start like STUN or ChannelData (RFC 7983) but do not come from
    /// our TURN server are dropped. `Ok(None)`: nothing more right now (the
    /// sources are edge-triggered, so call until then). A datagram larger
    /// than `buf` is dropped.
    pub fn recv(&mut self, buf: &mut [u8], now: Instant) -> io::Result<Option<(Route, usize)>> {
        let at = self.clock.at(now);
        // The TCP relay first: it may hold payloads already read.
        for i in 0..self.relays.len() {
            loop {
                let relay = &mut self.relays[i];
                let got = relay.receive_tcp(&mut self.scratch, buf, at);
                relay.pump(&self.socket, self.ipv6_socket, at);
                match got {
                    Ok(Some(Received::Peer(peer, len, framing))) => {
                        self.count_relayed(len, framing);
                        return Ok(Some((Route::Relayed(peer), len)));
                    }
                    Ok(Some(Received::Handled)) => continue,
                    Ok(None) | Err(_) => break,
                }
            }
        }
        loop {
            let (n, from) = match self.socket.recv_from(&mut self.scratch) {
                Ok((n, from)) => (n, normalise(from)),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP errors from earlier sends surface here on some
                // systems; they concern a datagram already gone.
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
                    ) =>
                {
                    continue;
                }
                Err(err) => return Err(err),
            };
            let datagram = &self.scratch[..n];
            let Some(&first) = datagram.first() else {
                continue;
            };
            if let Some(relay) = self
                .relays
                .iter_mut()
                .find(|r| r.transport() == TurnTransport::Udp && r.server() == from)
            {
                let got = relay.receive_udp(datagram, buf, at);
                relay.pump(&self.socket, self.ipv6_socket, at);
                match got {
                    Received::Peer(peer, len, framing) => {
                        self.count_relayed(len, framing);
                        return Ok(Some((Route::Relayed(peer), len)));
                    }
                    Received::Handled => {}
                }
                // The server may also be a STUN server of ours.
                self.probes.handle(&self.scratch[..n]);
                continue;
            }
            if self.probes.handle(datagram) {
                continue;
            }
            // RFC 7983: 0..=3 STUN, 64..=79 ChannelData. Our packets never
            // start there; from anyone but our relay these are noise.
            if matches!(first, 0..=3 | 64..=79) {
                self.counters.foreign_dropped += 1;
                continue;
            }
            if self.relay_only {
                self.counters.direct_refused += 1;
                continue;
            }
            let Some(dst) = buf.get_mut(..n) else {
                continue;
            };
            dst.copy_from_slice(&self.scratch[..n]);
            self.counters.direct_received += 1;
            self.counters.direct_received_bytes += n as u64;
            return Ok(Some((Route::Direct(from), n)));
        }
    }

    fn count_relayed(&mut self, len: usize, framing: usize) {
        self.counters.relay_received += 1;
        self.counters.relay_received_bytes += len as u64;
        self.counters.relay_overhead_bytes += framing as u64;
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due: TURN
    /// retransmissions and refreshes. `None`: no timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.relays
            .iter()
            .filter_map(Relay::wake)
            .min()
            .map(|at| self.clock.back(at))
    }

    /// Runs the timers that are due (TURN retransmissions and refreshes).
    pub fn handle_timeout(&mut self, now: Instant) {
        let at = self.clock.at(now);
        for relay in &mut self.relays {
            relay.pump(&self.socket, self.ipv6_socket, at);
        }
    }

    /// What went through so far.
    pub fn counters(&self) -> TransportCounters {
        self.counters
    }

    /// Runs the STUN and TURN exchanges of gathering until each has an
    /// answer or `deadline` passes. Returns the reflexive addresses learned
    /// and keeps the best relay allocation (UDP over TCP).
    pub(crate) fn gather_remote(
        &mut self,
        stun: &[SocketAddr],
        turn: &[TurnServer],
        started: Instant,
        deadline: Instant,
    ) -> Result<Vec<SocketAddr>, NetError> {
        self.probes = BindingProbes::new(stun);
        // One relay per transport: the first UDP server and the first TCP one.
        for transport in [TurnTransport::Udp, TurnTransport::Tcp] {
            let Some(server) = turn.iter().find(|s| s.transport == transport) else {
                continue;
            };
            // An IPv4-only socket cannot reach an IPv6 server over UDP.
            if transport == TurnTransport::Udp
                && !self.ipv6_socket
                && normalise(server.addr).is_ipv6()
            {
                continue;
            }
            let relay = match transport {
                TurnTransport::Udp => Relay::over_udp(self.local, server),
                TurnTransport::Tcp => match Relay::over_tcp(server) {
                    Ok(relay) => relay,
                    Err(err) => {
                        tracing::debug!(server = %server.addr, %err, "cannot connect to the relay over TCP");
                        continue;
                    }
                },
            };
            self.relays.push(relay);
        }
        if self.probes.settled() && self.relays.is_empty() {
            return Ok(Vec::new());
        }

        let mut poll = mio::Poll::new().map_err(NetError::Poll)?;
        let mut events = mio::Events::with_capacity(8);
        self.register(poll.registry(), mio::Token(0))
            .map_err(NetError::Poll)?;
        let mut sink = vec![0u8; SCRATCH_LEN];
        loop {
            let now = Instant::now();
            while let Some((server, request)) = self.probes.poll_transmit(started, now) {
                let _ = self
                    .socket
                    .send_to(request, on_wire(server, self.ipv6_socket));
            }
            self.handle_timeout(now);
            // Nothing from a peer can arrive yet (no one knows the address);
            // what the demultiplexer hands back is dropped.
            while let Ok(Some(_)) = self.recv(&mut sink, now) {}
            if now >= deadline || self.gathering_done() {
                break;
            }
            let wake = [
                Some(deadline),
                self.probes.next_wake(started),
                self.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(deadline);
            let wait = wake
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            if let Err(err) = poll.poll(&mut events, Some(wait))
                && err.kind() != io::ErrorKind::Interrupted
            {
                return Err(NetError::Poll(err));
            }
        }
        self.deregister(poll.registry());
        self.keep_best_relay();
        let reflexive = self.probes.addresses();
        self.probes = BindingProbes::default();
        Ok(reflexive)
    }

    /// Every STUN server answered, and the relays are settled: the UDP one
    /// allocated, or none still trying.
    fn gathering_done(&self) -> bool {
        let udp_allocated = self
            .relays
            .iter()
            .any(|r| r.transport() == TurnTransport::Udp && r.relayed_addr().is_some());
        let trying = self
            .relays
            .iter()
            .any(|r| r.state() == RelayState::Allocating);
        self.probes.settled() && (udp_allocated || !trying)
    }

    /// Keeps one allocation, UDP before TCP, and releases the others.
    fn keep_best_relay(&mut self) {
        let best = self
            .relays
            .iter()
            .position(|r| r.transport() == TurnTransport::Udp && r.relayed_addr().is_some())
            .or_else(|| self.relays.iter().position(|r| r.relayed_addr().is_some()));
        let relays = std::mem::take(&mut self.relays);
        for (i, mut relay) in relays.into_iter().enumerate() {
            if Some(i) == best {
                self.relays.push(relay);
            } else {
                relay.release(&self.socket, self.ipv6_socket, &self.clock);
            }
        }
    }
}

impl Drop for MediaTransport {
    fn drop(&mut self) {
        for relay in &mut self.relays {
            relay.release(&self.socket, self.ipv6_socket, &self.clock);
        }
    }
}
