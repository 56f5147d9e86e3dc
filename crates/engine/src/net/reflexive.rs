//! Server-reflexive addresses: STUN Binding requests (RFC 8489) sent from
//! the call's socket, and the XOR-MAPPED-ADDRESS that comes back.
//!
//! The request leaves from the media socket itself, so the address a NAT
//! gives it is the one the peer's checks will reach. UDP may lose it, so
//! each request is sent again on a short schedule inside the gathering
//! budget; the first answer for a server settles it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stun_types::attribute::XorMappedAddress;
use stun_types::message::{
    BINDING, Message, MessageClass, MessageWrite, MessageWriteVec, TransactionId,
};
use stun_types::prelude::MessageWriteExt;

use super::socket::normalise;

/// When each copy of a request goes out, counted from the start of
/// gathering (RFC 8489 §6.2.1 doubles the wait; the budget is 500 ms).
const SEND_AT: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(100),
    Duration::from_millis(300),
];

/// One Binding request per STUN server, and what came back.
#[derive(Debug, Default)]
pub(crate) struct BindingProbes {
    probes: Vec<Probe>,
}

#[derive(Debug)]
struct Probe {
    server: SocketAddr,
    transaction: TransactionId,
    request: Vec<u8>,
    copies_sent: usize,
    /// `Some` once the server answered: the address it saw, if it gave one.
    answer: Option<Option<SocketAddr>>,
}

impl BindingProbes {
    /// A request for each server (duplicates once).
    pub(crate) fn new(servers: &[SocketAddr]) -> Self {
        let mut probes: Vec<Probe> = Vec::new();
        for &server in servers {
            let server = normalise(server);
            if probes.iter().any(|p| p.server == server) {
                continue;
            }
            let request = Message::builder_request(BINDING, MessageWriteVec::new());
            let transaction = request.transaction_id();
            probes.push(Probe {
                server,
                transaction,
                request: request.finish(),
                copies_sent: 0,
                answer: None,
            });
        }
        BindingProbes { probes }
    }

    /// The next request copy that is due at `now`, if any.
    pub(crate) fn poll_transmit(
        &mut self,
        started: Instant,
        now: Instant,
    ) -> Option<(SocketAddr, &[u8])> {
        let elapsed = now.saturating_duration_since(started);
        let probe = self.probes.iter_mut().find(|p| {
            p.answer.is_none() && SEND_AT.get(p.copies_sent).is_some_and(|&at| at <= elapsed)
        })?;
        probe.copies_sent += 1;
        Some((probe.server, &probe.request))
    }

    /// When the next copy is due, if one is still to be sent.
    pub(crate) fn next_wake(&self, started: Instant) -> Option<Instant> {
        self.probes
            .iter()
            .filter(|p| p.answer.is_none())
            .filter_map(|p| SEND_AT.get(p.copies_sent))
            .min()
            .map(|&at| started + at)
    }

    /// Takes a datagram if it answers one of our requests: true if it did
    /// (and should go no further).
    pub(crate) fn handle(&mut self, data: &[u8]) -> bool {
        if self.probes.is_empty() {
            return false;
        }
        let Ok(msg) = Message::from_bytes(data) else {
            return false;
        };
        if !msg.has_method(BINDING) {
            return false;
        }
        // Matched on the 96-bit random transaction id alone: a server with
        // several addresses may answer from another one than was asked.
        let Some(probe) = self
            .probes
            .iter_mut()
            .find(|p| p.transaction == msg.transaction_id())
        else {
            return false;
        };
        let mapped = if msg.has_class(MessageClass::Success) {
            msg.attribute::<XorMappedAddress>()
                .ok()
                .map(|attr| normalise(attr.addr(msg.transaction_id())))
        } else {
            None
        };
        if probe.answer.is_none() {
            probe.answer = Some(mapped);
        }
        true
    }

    /// True once every server answered.
    pub(crate) fn settled(&self) -> bool {
        self.probes.iter().all(|p| p.answer.is_some())
    }

    /// The reflexive addresses learned, in server order, without repeats.
    pub(crate) fn addresses(&self) -> Vec<SocketAddr> {
        let mut out: Vec<SocketAddr> = Vec::new();
        for addr in self.probes.iter().filter_map(|p| p.answer.flatten()) {
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
        out
    }
}
