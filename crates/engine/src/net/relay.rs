//! One TURN allocation (RFC 8656), driven through `turn-client-proto`.
//!
//! The TURN client is sans-IO: it is handed what the server sent and asked
//! what to send and when to wake. This module is the I/O around it. Over
//! UDP the allocation shares the call's socket (datagrams from the server's
//! address come here); over TCP it owns a non-blocking stream to the server,
//! with the client doing the stream framing.
//!
//! The allocation, its permissions and its channels are refreshed by the
//! client on its own timers, which surface through [`Relay::wake`].

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use turn_client_proto::api::{
    DelayedMessageOrChannelSend, TransmitBuild, TurnClientApi, TurnConfig, TurnEvent, TurnPollRet,
    TurnRecvRet,
};
use turn_client_proto::client::TurnClient;
use turn_client_proto::tcp::TurnClientTcp;
use turn_client_proto::udp::TurnClientUdp;
use turn_types::prelude::DelayedTransmitBuild;
use turn_types::{AddressFamily, TransportType, TurnCredentials};

use super::servers::{TurnServer, TurnTransport};
use super::socket::{normalise, on_wire};
use super::transport::Clock;

/// The soonest the client is run again after a pump.
const MIN_WAKE: std::time::Duration = std::time::Duration::from_millis(1);

/// How far ahead of the client's request pacing the release is sent.
const RELEASE_AFTER: std::time::Duration = std::time::Duration::from_millis(100);

/// How long a refused channel is left alone before it is asked for again.
const RETRY_REFUSED_CHANNEL: std::time::Duration = std::time::Duration::from_secs(5);

/// The most channels one allocation holds (peer addresses learned during
/// the call included): a bound on requests and server state.
const MAX_CHANNELS_TOTAL: usize = 4 * MAX_CHANNELS;

/// The most channels bound for one peer's candidates.
pub(crate) const MAX_CHANNELS: usize = 16;

/// Where an allocation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RelayState {
    /// The Allocate request is out (possibly after a 401 round).
    Allocating,
    /// The server relays for us from this address.
    Allocated(SocketAddr),
    /// The server refused, the stream broke, or the allocation expired.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Binding,
    Bound,
    /// The server refused (or the bind timed out): not asked again before
    /// this time, so a peer address the relay will not reach does not cost
    /// a request per packet.
    Refused(stun_proto::Instant),
}

/// The path to the TURN server.
enum Link {
    /// Datagrams on the call's own socket.
    Udp,
    /// A TCP stream of our own.
    Tcp(TcpLink),
}

struct TcpLink {
    stream: mio::net::TcpStream,
    local: SocketAddr,
    connected: bool,
    /// Bytes the stream did not take yet (a TCP write may be partial).
    unsent: Vec<u8>,
}

/// A TURN allocation and the connection that keeps it.
pub(crate) struct Relay {
    client: TurnClient,
    server: SocketAddr,
    link: Link,
    state: RelayState,
    channels: HashMap<SocketAddr, Channel>,
    wake: Option<stun_proto::Instant>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials stay out of logs: only where and how far.
        f.debug_struct("Relay")
            .field("server", &self.server)
            .field("tcp", &matches!(self.link, Link::Tcp(_)))
            .field("state", &self.state)
            .field("channels", &self.channels.len())
            .finish()
    }
}

/// What a datagram from the server turned out to be.
pub(crate) enum Received {
    /// A peer's datagram, copied into the caller's buffer: peer address,
    /// payload length, framing bytes the relay added around it.
    Peer(SocketAddr, usize, usize),
    /// TURN's own business (a response, a refresh answer), or nothing.
    Handled,
}

fn config(server: &TurnServer) -> TurnConfig {
    let credentials = TurnCredentials::new(&server.username, &server.password);
    let mut config = TurnConfig::new(credentials);
    // The allocation's family follows the server's: that is the family the
    // server certainly has, and the one the peer's relay most likely has.
    config.set_address_family(if normalise(server.addr).is_ipv6() {
        AddressFamily::IPV6
    } else {
        AddressFamily::IPV4
    });
    config
}

impl Relay {
    /// Starts an allocation over the call's UDP socket, bound at `local`.
    pub(crate) fn over_udp(local: SocketAddr, server: &TurnServer) -> Relay {
        let addr = normalise(server.addr);
        let client = TurnClientUdp::allocate(local, addr, config(server));
        Relay {
            client: client.into(),
            server: addr,
            link: Link::Udp,
            state: RelayState::Allocating,
            channels: HashMap::new(),
            wake: None,
        }
    }

    /// Starts a TCP connection to the server and an allocation over it.
    pub(crate) fn over_tcp(server: &TurnServer) -> io::Result<Relay> {
        let addr = normalise(server.addr);
        let stream = mio::net::TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let local = stream.local_addr().map(normalise)?;
        let client = TurnClientTcp::allocate(local, addr, config(server));
        Ok(Relay {
            client: client.into(),
            server: addr,
            link: Link::Tcp(TcpLink {
                stream,
                local,
                connected: false,
                unsent: Vec::new(),
            }),
            state: RelayState::Allocating,
            channels: HashMap::new(),
            wake: None,
        })
    }

    pub(crate) fn server(&self) -> SocketAddr {
        self.server
    }

    pub(crate) fn transport(&self) -> TurnTransport {
        match self.link {
            Link::Udp => TurnTransport::Udp,
            Link::Tcp(_) => TurnTransport::Tcp,
        }
    }

    pub(crate) fn state(&self) -> RelayState {
        self.state
    }

    pub(crate) fn relayed_addr(&self) -> Option<SocketAddr> {
        match self.state {
            RelayState::Allocated(addr) => Some(addr),
            _ => None,
        }
    }

    /// The TCP stream, for registering with a poll.
    pub(crate) fn tcp_stream(&mut self) -> Option<&mut mio::net::TcpStream> {
        match &mut self.link {
            Link::Tcp(tcp) => Some(&mut tcp.stream),
            Link::Udp => None,
        }
    }

    /// When the client next needs [`pump`](Self::pump) (a retransmission,
    /// a refresh).
    pub(crate) fn wake(&self) -> Option<stun_proto::Instant> {
        self.wake
    }

    /// Sends what the client has queued, takes its events, and asks when it
    /// wants to run next. Called after every input and on every timeout.
    pub(crate) fn pump(
        &mut self,
        udp: &mio::net::UdpSocket,
        ipv6_socket: bool,
        now: stun_proto::Instant,
    ) {
        if self.state == RelayState::Failed {
            self.wake = None;
            return;
        }
        if let Link::Tcp(tcp) = &mut self.link
            && let Err(err) = tcp.progress()
        {
            tracing::debug!(server = %self.server, %err, "the TCP connection to the relay failed");
            self.fail();
            return;
        }
        // Queued requests first (their retransmission timers start when
        // they leave), then the next wake-up, then whatever that poll
        // queued (a retransmission due now).
        self.flush(udp, ipv6_socket, now);
        self.wake = match self.client.poll(now) {
            // Never in the past: a timer that stays due would spin the
            // caller's loop.
            TurnPollRet::WaitUntil(at) => Some(at.max(now + MIN_WAKE)),
            TurnPollRet::Closed => {
                self.fail();
                return;
            }
            // TCP allocations (RFC 6062) are never requested, so neither of
            // these should come; there is nothing to do if one does.
            TurnPollRet::AllocateTcpSocket { .. } | TurnPollRet::TcpClose { .. } => None,
        };
        self.flush(udp, ipv6_socket, now);
    }

    /// Sends what the client queued and takes its events.
    fn flush(&mut self, udp: &mio::net::UdpSocket, ipv6_socket: bool, now: stun_proto::Instant) {
        while let Some(transmit) = self.client.poll_transmit(now) {
            if let Err(err) = self.send_to_server(udp, ipv6_socket, &transmit.data) {
                tracing::debug!(server = %self.server, %err, "cannot send to the relay");
            }
        }
        while let Some(event) = self.client.poll_event() {
            self.on_event(event, now);
        }
    }

    fn on_event(&mut self, event: TurnEvent, now: stun_proto::Instant) {
        match event {
            TurnEvent::AllocationCreated(_, relayed) => {
                let relayed = normalise(relayed);
                tracing::debug!(server = %self.server, %relayed, "relay allocation made");
                self.state = RelayState::Allocated(relayed);
            }
            TurnEvent::AllocationCreateFailed(family) => {
                tracing::debug!(server = %self.server, ?family, "the relay refused an allocation");
                if self.relayed_addr().is_none() {
                    self.fail();
                }
            }
            TurnEvent::ChannelCreated(_, peer) => {
                self.channels.insert(normalise(peer), Channel::Bound);
            }
            TurnEvent::ChannelCreateFailed(_, peer) => {
                let peer = normalise(peer);
                tracing::debug!(server = %self.server, %peer, "the relay refused a channel");
                self.channels
                    .insert(peer, Channel::Refused(now + RETRY_REFUSED_CHANNEL));
            }
            TurnEvent::PermissionCreated(..) => {}
            TurnEvent::PermissionCreateFailed(_, ip) => {
                tracing::debug!(server = %self.server, %ip, "the relay refused a permission");
            }
            TurnEvent::TcpConnected(_) | TurnEvent::TcpConnectFailed(_) => {}
        }
    }

    fn fail(&mut self) {
        self.state = RelayState::Failed;
        self.wake = None;
        self.channels.clear();
        self.client.protocol_error();
    }

    fn send_to_server(
        &mut self,
        udp: &mio::net::UdpSocket,
        ipv6_socket: bool,
        data: &[u8],
    ) -> io::Result<()> {
        match &mut self.link {
            Link::Udp => udp
                .send_to(data, on_wire(self.server, ipv6_socket))
                .map(drop),
            Link::Tcp(tcp) => tcp.write(data),
        }
    }

    /// A channel (and with it a permission) for each of the peer's addresses
    /// in the allocation's address family, at most [`MAX_CHANNELS`].
    pub(crate) fn prepare_peer(&mut self, peers: &[SocketAddr], now: stun_proto::Instant) {
        let Some(relayed) = self.relayed_addr() else {
            return;
        };
        let mut bound = 0;
        for &peer in peers {
            let peer = normalise(peer);
            if peer.is_ipv4() != relayed.is_ipv4() || bound >= MAX_CHANNELS {
                continue;
            }
            bound += 1;
            self.bind(peer, now);
        }
    }

    /// Asks for a permission and a channel to `peer` unless one is bound or
    /// on its way.
    fn bind(&mut self, peer: SocketAddr, now: stun_proto::Instant) {
        match self.channels.get(&peer) {
            Some(Channel::Binding | Channel::Bound) => return,
            Some(Channel::Refused(until)) if now < *until => return,
            Some(Channel::Refused(_)) => {}
            None if self.channels.len() >= MAX_CHANNELS_TOTAL => return,
            None => {}
        }
        if self.relayed_addr().is_none() {
            return;
        }
        // A ChannelBind installs the permission for the peer's IP as well
        // (RFC 8656 §12), and the client keeps refreshing that permission;
        // a separate CreatePermission would only add a request, and the
        // client paces requests 50 ms apart.
        match self.client.bind_channel(TransportType::Udp, peer, now) {
            Ok(()) => {
                self.channels.insert(peer, Channel::Binding);
            }
            Err(err) => {
                tracing::debug!(%peer, %err, "cannot bind a relay channel");
                self.channels
                    .insert(peer, Channel::Refused(now + RETRY_REFUSED_CHANNEL));
            }
        }
    }

    /// Sends `packet` to `peer` as ChannelData. A peer without a bound
    /// channel gets one started and the packet is dropped: every relayed
    /// datagram is then the packet plus the same four bytes. Returns the
    /// framing bytes added, or `None` if the packet was dropped.
    pub(crate) fn send(
        &mut self,
        udp: &mio::net::UdpSocket,
        ipv6_socket: bool,
        peer: SocketAddr,
        packet: &[u8],
        scratch: &mut [u8],
        now: stun_proto::Instant,
    ) -> io::Result<Option<usize>> {
        let peer = normalise(peer);
        if self.relayed_addr().is_none()
            || peer.is_ipv4() != self.relayed_addr().is_some_and(|a| a.is_ipv4())
        {
            return Ok(None);
        }
        if self.channels.get(&peer) != Some(&Channel::Bound) {
            self.bind(peer, now);
            return Ok(None);
        }
        let Ok(Some(TransmitBuild {
            data: channel @ DelayedMessageOrChannelSend::Channel(_),
            ..
        })) = self.client.send_to(TransportType::Udp, peer, packet, now)
        else {
            // The channel lapsed (a refresh failed): bind it again.
            self.channels.remove(&peer);
            self.bind(peer, now);
            return Ok(None);
        };
        let framed = channel.len();
        // Over TCP, ChannelData is padded to a multiple of four (RFC 8656
        // §12.5); the length field still says the packet's own length.
        let padded = match self.link {
            Link::Tcp(_) => framed.div_ceil(4) * 4,
            Link::Udp => framed,
        };
        let Some(out) = scratch.get_mut(..padded) else {
            return Ok(None);
        };
        out[framed..].fill(0);
        channel.write_into(&mut out[..framed]);
        match &mut self.link {
            Link::Udp => {
                udp.send_to(out, on_wire(self.server, ipv6_socket))?;
            }
            Link::Tcp(tcp) => tcp.write(out)?,
        }
        Ok(Some(padded - packet.len()))
    }

    /// Hands a datagram that came from the server (over UDP) to the client;
    /// a peer's payload is copied into `out`.
    pub(crate) fn receive_udp(
        &mut self,
        datagram: &[u8],
        out: &mut [u8],
        now: stun_proto::Instant,
    ) -> Received {
        let local = self.client.local_addr();
        let transmit =
            stun_proto::agent::Transmit::new(datagram, TransportType::Udp, self.server, local);
        match self.client.recv(transmit, now) {
            TurnRecvRet::PeerData(data) => {
                let peer = normalise(data.peer);
                let payload = data.data();
                match out.get_mut(..payload.len()) {
                    Some(dst) => {
                        dst.copy_from_slice(payload);
                        Received::Peer(peer, payload.len(), datagram.len() - payload.len())
                    }
                    None => Received::Handled,
                }
            }
            TurnRecvRet::Handled | TurnRecvRet::Ignored(_) | TurnRecvRet::PeerIcmp { .. } => {
                Received::Handled
            }
        }
    }

    /// Reads the TCP stream until a peer's payload comes out (copied into
    /// `out`) or the stream has nothing more. `Ok(None)`: nothing more now.
    pub(crate) fn receive_tcp(
        &mut self,
        scratch: &mut [u8],
        out: &mut [u8],
        now: stun_proto::Instant,
    ) -> io::Result<Option<Received>> {
        loop {
            if let Some(data) = self.client.poll_recv(now) {
                return Ok(Some(copy_peer(data.peer, data.data(), out)));
            }
            let Link::Tcp(tcp) = &mut self.link else {
                return Ok(None);
            };
            if !tcp.connected || self.state == RelayState::Failed {
                return Ok(None);
            }
            let n = match tcp.stream.read(scratch) {
                Ok(0) => {
                    tracing::debug!(server = %self.server, "the relay closed the TCP connection");
                    self.fail();
                    return Ok(None);
                }
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    self.fail();
                    return Err(err);
                }
            };
            let local = tcp.local;
            let transmit = stun_proto::agent::Transmit::new(
                &scratch[..n],
                TransportType::Tcp,
                self.server,
                local,
            );
            if let TurnRecvRet::PeerData(data) = self.client.recv(transmit, now) {
                return Ok(Some(copy_peer(data.peer, data.data(), out)));
            }
        }
    }

    /// Best effort on the way out: a Refresh with lifetime 0 releases the
    /// allocation at once instead of when it times out.
    pub(crate) fn release(&mut self, udp: &mio::net::UdpSocket, ipv6_socket: bool, clock: &Clock) {
        if self.relayed_addr().is_none() {
            return;
        }
        let now = clock.now();
        if self.client.delete(now).is_err() {
            return;
        }
        // The client spaces its requests (50 ms); there is no later for this
        // one, so it is asked for as if that time had passed.
        let later = now + RELEASE_AFTER;
        while let Some(transmit) = self.client.poll_transmit(later) {
            let _ = self.send_to_server(udp, ipv6_socket, &transmit.data);
        }
        if let Link::Tcp(tcp) = &mut self.link {
            let _ = tcp.progress();
        }
        self.state = RelayState::Failed;
    }
}

/// ChannelData over TCP pads the payload to four bytes; what the relay
/// added around a payload of `len` bytes.
fn tcp_framing(len: usize) -> usize {
    4 + (len.div_ceil(4) * 4 - len)
}

fn copy_peer(peer: SocketAddr, payload: &[u8], out: &mut [u8]) -> Received {
    match out.get_mut(..payload.len()) {
        Some(dst) => {
            dst.copy_from_slice(payload);
            Received::Peer(normalise(peer), payload.len(), tcp_framing(payload.len()))
        }
        None => Received::Handled,
    }
}

impl TcpLink {
    /// Finishes the connect if it has, and writes what is waiting.
    fn progress(&mut self) -> io::Result<()> {
        if !self.connected {
            if let Some(err) = self.stream.take_error()? {
                return Err(err);
            }
            match self.stream.peer_addr() {
                Ok(_) => self.connected = true,
                Err(err) if err.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(err) => return Err(err),
            }
        }
        while !self.unsent.is_empty() {
            match self.stream.write(&self.unsent) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.unsent.drain(..n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Queues `data` behind anything unsent and writes what the stream takes.
    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        // A stream that cannot keep up would otherwise grow without bound;
        // at this size the relay is hopeless anyway.
        const MAX_UNSENT: usize = 256 * 1024;
        if self.unsent.len() + data.len() > MAX_UNSENT {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.unsent.extend_from_slice(data);
        self.progress()
    }
}
