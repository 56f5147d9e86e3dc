//! The STUN Binding listener (RFC 8489 §6.3): a client's media socket sends
//! a Binding request here and learns, from the XOR-MAPPED-ADDRESS of the
//! answer, the address its NAT gave it — its server-reflexive candidate.
//! Every self-hosted registry offers this with no extra server.
//!
//! Only Binding requests are answered; anything else (short, garbage, other
//! methods, indications, responses, requests with a bad FINGERPRINT) is
//! dropped without a word. Because UDP source addresses can be forged, the
//! listener must not be a useful amplifier: an answer is at most
//! [`MAX_RESPONSE_GROWTH`] bytes longer than the request that caused it,
//! and answers are rate-limited per source address (per /64 for IPv6, as
//! the HTTP limits do) and in total.
//!
//! The codec is `stun-types`; [`binding_response`] is the pure part
//! (datagram in, answer out) and [`serve`] the socket loop.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use stun_types::attribute::{AttributeStaticType, Fingerprint, XorMappedAddress};
use stun_types::message::{
    BINDING, MAGIC_COOKIE, Message, MessageClass, MessageWrite, MessageWriteExt,
    MessageWriteMutSlice,
};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use crate::limits::rate_key;
use crate::metrics;

/// STUN message header length.
const HEADER_LEN: usize = 20;
/// Message type of a Binding request (class request, method Binding).
const BINDING_REQUEST: [u8; 2] = [0x00, 0x01];
/// Largest request considered; a Binding request carries at most a few
/// short attributes, and anything larger is not one of ours.
pub const MAX_REQUEST_LEN: usize = 548;
/// An answer is at most this many bytes longer than its request:
/// XOR-MAPPED-ADDRESS of an IPv6 address (24), and a FINGERPRINT (8) only
/// when the request carried one (so it was at least 8 bytes longer itself).
pub const MAX_RESPONSE_GROWTH: usize = 24;
/// Answers per second per source address (IPv6: per /64).
pub const RATE_PER_IP: u32 = 10;
/// Burst of answers per source address: a client gathering candidates
/// sends one request per socket and family, plus retransmissions.
pub const BURST_PER_IP: u32 = 20;
/// Answers per second over all sources, so that forged sources cannot
/// make the listener send more than this in total.
pub const RATE_TOTAL: u32 = 5_000;
/// Size of the answer buffer: header + IPv6 XOR-MAPPED-ADDRESS + FINGERPRINT.
const MAX_RESPONSE_LEN: usize = HEADER_LEN + 24 + 8;

/// The answer to `request`, received from `from`, written into `out`; its
/// length, or `None` when the datagram is not a Binding request and gets no
/// answer.
pub fn binding_response(
    request: &[u8],
    from: SocketAddr,
    out: &mut [u8; MAX_RESPONSE_LEN],
) -> Option<usize> {
    // Cheap checks first, on the fixed header (RFC 8489 §5): the parser
    // below logs what it dislikes, and most junk should not get that far.
    if request.len() < HEADER_LEN || request.len() > MAX_REQUEST_LEN {
        return None;
    }
    if request[0..2] != BINDING_REQUEST {
        return None;
    }
    let body_len = usize::from(u16::from_be_bytes([request[2], request[3]]));
    if body_len != request.len() - HEADER_LEN || body_len % 4 != 0 {
        return None;
    }
    if u32::from_be_bytes([request[4], request[5], request[6], request[7]]) != MAGIC_COOKIE {
        return None;
    }
    // Attribute framing and any FINGERPRINT are checked here.
    let msg = Message::from_bytes(request).ok()?;
    if !msg.has_class(MessageClass::Request) || !msg.has_method(BINDING) {
        return None;
    }
    // A dual-stack socket shows IPv4 clients as ::ffff:a.b.c.d; they must
    // learn their IPv4 address.
    let mapped = SocketAddr::new(from.ip().to_canonical(), from.port());
    let mut answer = Message::builder_success(&msg, MessageWriteMutSlice::new(out));
    answer
        .add_attribute(&XorMappedAddress::new(mapped, msg.transaction_id()))
        .ok()?;
    if msg.has_attribute(Fingerprint::TYPE) {
        answer.add_fingerprint().ok()?;
    }
    let len = answer.finish();
    // Holds by construction (see MAX_RESPONSE_GROWTH); checked all the same,
    // since this is the one property that matters on a public port.
    (len <= request.len() + MAX_RESPONSE_GROWTH).then_some(len)
}

/// The listener's rate limits: per source address and in total.
struct AnswerBudget {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    total: DefaultDirectRateLimiter,
}

impl AnswerBudget {
    fn new() -> Self {
        // The constants are non-zero; `MIN` only keeps the types honest.
        let nz = |n| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Self {
            per_ip: RateLimiter::keyed(
                Quota::per_second(nz(RATE_PER_IP)).allow_burst(nz(BURST_PER_IP)),
            ),
            total: RateLimiter::direct(Quota::per_second(nz(RATE_TOTAL))),
        }
    }

    fn allow(&self, ip: IpAddr) -> bool {
        self.per_ip.check_key(&rate_key(ip)).is_ok() && self.total.check().is_ok()
    }
}

/// Binds the STUN listener's UDP socket.
pub async fn bind(at: SocketAddr) -> std::io::Result<UdpSocket> {
    UdpSocket::bind(at).await
}

/// Answers Binding requests on `socket` until `stop` flips.
pub async fn serve(socket: UdpSocket, mut stop: watch::Receiver<bool>) {
    let budget = AnswerBudget::new();
    // One byte more than any request we answer, so that an oversized
    // datagram shows as oversized rather than cut to a plausible length.
    let mut buf = [0u8; MAX_REQUEST_LEN + 1];
    let mut out = [0u8; MAX_RESPONSE_LEN];
    let mut sweep = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let (n, from) = match received {
                    Ok(r) => r,
                    Err(e) => {
                        // ICMP errors and the like; the socket stays usable.
                        tracing::debug!(error = %e, "STUN receive failed");
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                };
                let Some(len) = binding_response(&buf[..n], from, &mut out) else {
                    continue;
                };
                if !budget.allow(from.ip()) {
                    metrics::STUN_RATE_LIMITED.inc();
                    continue;
                }
                if socket.send_to(&out[..len], from).await.is_ok() {
                    metrics::STUN_ANSWERS.inc();
                }
            }
            _ = sweep.tick() => budget.per_ip.retain_recent(),
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stun_types::message::MessageWriteVec;

    fn request(fingerprint: bool) -> Vec<u8> {
        let mut m = Message::builder_request(BINDING, MessageWriteVec::new());
        if fingerprint {
            m.add_fingerprint().expect("fingerprint fits");
        }
        m.finish()
    }

    #[test]
    fn answers_carry_the_source_address_and_stay_small() {
        let mut out = [0u8; MAX_RESPONSE_LEN];
        for from in [
            "192.0.2.1:4000",
            "[2001:db8::7]:5000",
            "[::ffff:192.0.2.9]:6000",
        ] {
            let from: SocketAddr = from.parse().expect("address");
            for fingerprint in [false, true] {
                let req = request(fingerprint);
                let n = binding_response(&req, from, &mut out).expect("answered");
                assert!(n <= req.len() + MAX_RESPONSE_GROWTH);
                let msg = Message::from_bytes(&out[..n]).expect("valid STUN");
                assert!(msg.has_class(MessageClass::Success));
                let req = Message::from_bytes(&req).expect("request");
                assert_eq!(msg.transaction_id(), req.transaction_id());
                let xor = msg.attribute::<XorMappedAddress>().expect("mapped");
                let want = SocketAddr::new(from.ip().to_canonical(), from.port());
                assert_eq!(xor.addr(msg.transaction_id()), want);
                assert_eq!(msg.has_attribute(Fingerprint::TYPE), fingerprint);
            }
        }
    }

    #[test]
    fn anything_but_a_binding_request_is_dropped() {
        let from: SocketAddr = "192.0.2.1:4000".parse().expect("address");
        let mut out = [0u8; MAX_RESPONSE_LEN];
        let good = request(true);
        let mut cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            vec![0; 19],
            good[..19].to_vec(),
            b"GET / HTTP/1.1\r\n\r\n....".to_vec(),
            vec![0xff; 200],
            vec![0; MAX_REQUEST_LEN + 4],
        ];
        // A Binding indication, a success response, an Allocate request.
        for ty in [[0x00, 0x11], [0x01, 0x01], [0x00, 0x03]] {
            let mut m = good.clone();
            m[..2].copy_from_slice(&ty);
            cases.push(m);
        }
        // Wrong cookie, wrong length, a corrupted FINGERPRINT.
        let mut m = good.clone();
        m[4] ^= 1;
        cases.push(m);
        let mut m = good.clone();
        m[3] += 4;
        cases.push(m);
        let mut m = good.clone();
        let last = m.len() - 1;
        m[last] ^= 0x55;
        cases.push(m);
        for case in cases {
            assert_eq!(binding_response(&case, from, &mut out), None, "{case:?}");
        }
        assert!(binding_response(&good, from, &mut out).is_some());
    }

    #[test]
    fn mutated_requests_never_panic_and_never_draw_large_answers() {
        // A fixed xorshift stream: reproducible, no dependency.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let from: SocketAddr = "[2001:db8::1]:9".parse().expect("address");
        let mut out = [0u8; MAX_RESPONSE_LEN];
        let seeds = [request(false), request(true)];
        for i in 0..20_000u64 {
            let mut m = seeds[(i % 2) as usize].clone();
            // Grow by a few attribute-like bytes, then flip some.
            let extra = (next() % 24) as usize;
            m.extend((0..extra).map(|_| next() as u8));
            if m.len() >= 4 {
                let body = u16::try_from(m.len() - 20).unwrap_or(0);
                m[2..4].copy_from_slice(&body.to_be_bytes());
            }
            for _ in 0..(next() % 4) {
                let at = (next() as usize) % m.len();
                m[at] ^= next() as u8;
            }
            if let Some(n) = binding_response(&m, from, &mut out) {
                assert!(n <= m.len() + MAX_RESPONSE_GROWTH);
            }
        }
    }
}
