//! Media candidates: the typed UDP addresses an offer and an answer list,
//! and the priorities that order connectivity checks between them.
//!
//! A side may be reachable at an address of its own interface (host), at
//! the public address its NAT maps it to as a STUN server saw it (server
//! reflexive), or only through a TURN relay (relayed). Each candidate
//! carries a priority computed the way ICE does (RFC 8445 §5.1.2.1), so
//! both sides rank the same pairs in the same order without negotiating
//! anything beyond the signed lists.
//!
//! ```text
//! candidate = kind u8 (0 host, 1 srflx, 2 relay) | priority u32 BE | address
//! address   = 4 | IPv4 (4 bytes) | port u16 BE
//!           | 6 | IPv6 (16 bytes) | port u16 BE
//! ```
//!
//! Component id is always 1: one UDP flow carries media and control.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{HandshakeError, MAX_CANDIDATES};
use crate::wire::Reader;

/// Where a candidate address comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[repr(u8)]
pub enum CandidateKind {
    /// An address of one of the sender's own interfaces (or a port the user
    /// forwarded by hand).
    #[serde(rename = "host")]
    Host = 0,
    /// The sender's public address as a STUN server saw it: the mapping its
    /// NAT made for the media socket.
    #[serde(rename = "srflx")]
    ServerReflexive = 1,
    /// An address allocated on a TURN server, which relays to the sender.
    #[serde(rename = "relay")]
    Relayed = 2,
}

impl CandidateKind {
    /// RFC 8445 §5.1.2.2 recommended type preferences: direct paths first,
    /// the relay last because it adds a hop and costs the relay's bandwidth.
    pub fn type_preference(self) -> u32 {
        match self {
            CandidateKind::Host => 126,
            CandidateKind::ServerReflexive => 100,
            CandidateKind::Relayed => 0,
        }
    }

    /// The short name ICE uses for the kind (`host`, `srflx`, `relay`).
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateKind::Host => "host",
            CandidateKind::ServerReflexive => "srflx",
            CandidateKind::Relayed => "relay",
        }
    }

    fn from_wire(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(CandidateKind::Host),
            1 => Some(CandidateKind::ServerReflexive),
            2 => Some(CandidateKind::Relayed),
            _ => None,
        }
    }
}

impl fmt::Display for CandidateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One address at which a side accepts media, with its kind and priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// How the address was learned.
    pub kind: CandidateKind,
    /// The UDP address the peer should send to.
    pub addr: SocketAddr,
    /// Higher is preferred; see [`Candidate::new`].
    pub priority: u32,
}

/// The ICE component id of our single media flow.
const COMPONENT_ID: u32 = 1;

/// Highest candidate priority (RFC 8445 §5.1.2: 1 ..= 2^31 - 1). Every
/// [`Candidate::new`] lies in range (the highest, a host candidate with
/// local preference 65535, is 2130706431).
pub const MAX_PRIORITY: u32 = (1 << 31) - 1;

impl Candidate {
    /// Longest encoding of one candidate (an IPv6 address).
    pub const MAX_ENCODED_LEN: usize = 1 + 4 + 1 + 16 + 2;

    /// A candidate with the RFC 8445 §5.1.2.1 priority:
    /// `(2^24)*type_pref + (2^8)*local_pref + (256 - component id)`.
    ///
    /// `local_preference` ranks candidates of one kind against each other
    /// (65535 for the most preferred); it never lifts a kind above a kind
    /// with a higher type preference.
    pub fn new(kind: CandidateKind, addr: SocketAddr, local_preference: u16) -> Self {
        // 126 * 2^24 + 65535 * 2^8 + 255 < 2^31: no overflow for any input.
        let priority = (kind.type_preference() << 24)
            + (u32::from(local_preference) << 8)
            + (256 - COMPONENT_ID);
        Self {
            kind,
            addr,
            priority,
        }
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.kind as u8);
        out.extend_from_slice(&self.priority.to_be_bytes());
        match self.addr.ip() {
            IpAddr::V4(ip) => {
                out.push(4);
                out.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                out.push(6);
                out.extend_from_slice(&ip.octets());
            }
        }
        out.extend_from_slice(&self.addr.port().to_be_bytes());
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, HandshakeError> {
        const TRUNC: HandshakeError = HandshakeError::Malformed("truncated candidates");
        let kind = CandidateKind::from_wire(r.u8().ok_or(TRUNC)?)
            .ok_or(HandshakeError::Malformed("unknown candidate kind"))?;
        let priority = r.u32().ok_or(TRUNC)?;
        let ip = match r.u8().ok_or(TRUNC)? {
            4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>().ok_or(TRUNC)?)),
            6 => IpAddr::V6(Ipv6Addr::from(r.array::<16>().ok_or(TRUNC)?)),
            _ => return Err(HandshakeError::Malformed("unknown address family")),
        };
        let port = r.u16().ok_or(TRUNC)?;
        Ok(Self {
            kind,
            addr: SocketAddr::new(ip, port),
            priority,
        })
    }
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} (priority {})",
            self.kind, self.addr, self.priority
        )
    }
}

/// RFC 8445 §6.1.2.3 pair priority, where `controlling` (G) is the priority
/// of the caller's candidate and `controlled` (D) the callee's:
/// `2^32*min(G,D) + 2*max(G,D) + (G > D ? 1 : 0)`.
///
/// Both sides compute the same number for a pair, so they check pairs in
/// the same order; the last term breaks ties between mirrored pairs.
///
/// Candidate priorities are at most [`MAX_PRIORITY`] (2^31 - 1), which keeps
/// the result below 2^63; larger inputs saturate rather than overflow.
pub fn pair_priority(controlling: u32, controlled: u32) -> u64 {
    let (g, d) = (u64::from(controlling), u64::from(controlled));
    (g.min(d) << 32)
        .saturating_add(2 * g.max(d))
        .saturating_add(u64::from(g > d))
}

pub(super) fn encode_candidates(cands: &[Candidate], out: &mut Vec<u8>) {
    // The constructors cap the list at MAX_CANDIDATES, which fits in a u8.
    out.push(cands.len() as u8);
    for c in cands {
        c.encode(out);
    }
}

pub(super) fn decode_candidates(r: &mut Reader<'_>) -> Result<Vec<Candidate>, HandshakeError> {
    let n = usize::from(
        r.u8()
            .ok_or(HandshakeError::Malformed("truncated candidates"))?,
    );
    if n > MAX_CANDIDATES {
        return Err(HandshakeError::Malformed("too many candidates"));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(Candidate::decode(r)?);
    }
    // A peer is held to the rules its own side would have enforced.
    check_candidates(&out)?;
    Ok(out)
}

/// The rules for a candidate list, on both the sending and receiving side:
/// at most [`MAX_CANDIDATES`], priorities in 1 ..= [`MAX_PRIORITY`], and no
/// (kind, address) listed twice (a duplicate would only make the other side
/// check the same path twice).
pub(super) fn check_candidates(cands: &[Candidate]) -> Result<(), HandshakeError> {
    if cands.len() > MAX_CANDIDATES {
        return Err(HandshakeError::Malformed("too many candidates"));
    }
    if cands
        .iter()
        .any(|c| !(1..=MAX_PRIORITY).contains(&c.priority))
    {
        return Err(HandshakeError::Malformed("candidate priority out of range"));
    }
    // At most 16 entries: the quadratic scan is cheaper than a set.
    for (i, c) in cands.iter().enumerate() {
        if cands[..i]
            .iter()
            .any(|p| p.kind == c.kind && p.addr == c.addr)
        {
            return Err(HandshakeError::Malformed("duplicate candidate"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("literal address")
    }

    #[test]
    fn priorities_follow_rfc_8445() {
        let a = addr("192.0.2.1:5000");
        assert_eq!(
            Candidate::new(CandidateKind::Host, a, 65535).priority,
            2_130_706_431
        );
        assert!(Candidate::new(CandidateKind::Host, a, 65535).priority <= MAX_PRIORITY);
        assert_eq!(
            Candidate::new(CandidateKind::ServerReflexive, a, 65535).priority,
            1_694_498_815
        );
        assert_eq!(
            Candidate::new(CandidateKind::Relayed, a, 65535).priority,
            16_777_215
        );
        assert_eq!(Candidate::new(CandidateKind::Relayed, a, 0).priority, 255);
        // A kind always outranks the kind below it, whatever the local preference.
        assert!(
            Candidate::new(CandidateKind::Host, a, 0).priority
                > Candidate::new(CandidateKind::ServerReflexive, a, 65535).priority
        );
    }

    #[test]
    fn pair_priority_examples_in_both_orders() {
        let host = 2_130_706_431u32;
        let relay = 16_777_215u32;
        // G > D: min = relay, max = host, +1.
        let g_high = pair_priority(host, relay);
        assert_eq!(g_high, (u64::from(relay) << 32) + 2 * u64::from(host) + 1);
        assert_eq!(g_high, 72_057_594_004_373_503);
        // G < D: the same pair mirrored differs only by the tie-break bit.
        let g_low = pair_priority(relay, host);
        assert_eq!(g_low, g_high - 1);
        // Equal priorities: no tie-break bit.
        assert_eq!(
            pair_priority(host, host),
            (u64::from(host) << 32) + 2 * u64::from(host)
        );
        // The largest valid priorities stay clear of overflow...
        assert_eq!(
            pair_priority(MAX_PRIORITY, MAX_PRIORITY - 1),
            (u64::from(MAX_PRIORITY - 1) << 32) + 2 * u64::from(MAX_PRIORITY) + 1
        );
        // ...and out-of-range ones saturate instead of panicking.
        assert_eq!(pair_priority(u32::MAX, u32::MAX), u64::MAX);
        // Host×host outranks anything with a relayed side.
        assert!(pair_priority(host, host - 1) > pair_priority(host, relay));
    }

    #[test]
    fn every_kind_and_family_round_trips() {
        let kinds = [
            CandidateKind::Host,
            CandidateKind::ServerReflexive,
            CandidateKind::Relayed,
        ];
        let addrs = [addr("203.0.113.7:49152"), addr("[2001:db8::7]:3478")];
        let mut list = Vec::new();
        for (i, kind) in kinds.into_iter().enumerate() {
            for a in addrs {
                list.push(Candidate::new(kind, a, 1000 - i as u16));
            }
        }
        // A priority the formula would not give also survives unchanged.
        list.push(Candidate {
            kind: CandidateKind::Host,
            addr: addr("10.0.0.1:1"),
            priority: 7,
        });
        let mut bytes = Vec::new();
        encode_candidates(&list, &mut bytes);
        let mut r = Reader::new(&bytes);
        assert_eq!(decode_candidates(&mut r), Ok(list));
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn the_encoding_is_kind_priority_address() {
        let c = Candidate::new(CandidateKind::ServerReflexive, addr("1.2.3.4:258"), 1);
        let mut bytes = Vec::new();
        c.encode(&mut bytes);
        let p = c.priority.to_be_bytes();
        assert_eq!(
            bytes,
            [1, p[0], p[1], p[2], p[3], 4, 1, 2, 3, 4, 1, 2].to_vec()
        );
        let v6 = Candidate::new(CandidateKind::Relayed, addr("[::1]:1"), 1);
        let mut bytes = Vec::new();
        v6.encode(&mut bytes);
        assert_eq!(bytes.len(), Candidate::MAX_ENCODED_LEN);
    }

    #[test]
    fn an_unknown_kind_is_malformed() {
        let c = Candidate::new(CandidateKind::Host, addr("1.2.3.4:5"), 1);
        let mut bytes = Vec::new();
        encode_candidates(&[c], &mut bytes);
        for kind in [3u8, 0x7f, 0xff] {
            bytes[1] = kind;
            assert_eq!(
                decode_candidates(&mut Reader::new(&bytes)),
                Err(HandshakeError::Malformed("unknown candidate kind"))
            );
        }
    }

    #[test]
    fn truncation_anywhere_is_malformed_not_a_panic() {
        let list = [
            Candidate::new(CandidateKind::Host, addr("1.2.3.4:5"), 2),
            Candidate::new(CandidateKind::Relayed, addr("[2001:db8::1]:6"), 1),
        ];
        let mut bytes = Vec::new();
        encode_candidates(&list, &mut bytes);
        for cut in 0..bytes.len() {
            assert!(decode_candidates(&mut Reader::new(&bytes[..cut])).is_err());
        }
    }

    #[test]
    fn duplicates_and_too_many_are_refused_on_both_sides() {
        let a = addr("198.51.100.1:4000");
        let host = Candidate::new(CandidateKind::Host, a, 2);
        // The same address under another kind is a different path to check.
        let srflx = Candidate::new(CandidateKind::ServerReflexive, a, 2);
        assert_eq!(check_candidates(&[host, srflx]), Ok(()));
        // The same (kind, address) with another priority is still a duplicate.
        let again = Candidate::new(CandidateKind::Host, a, 1);
        let dup = [host, srflx, again];
        assert_eq!(
            check_candidates(&dup),
            Err(HandshakeError::Malformed("duplicate candidate"))
        );
        let mut bytes = Vec::new();
        encode_candidates(&dup, &mut bytes);
        assert_eq!(
            decode_candidates(&mut Reader::new(&bytes)),
            Err(HandshakeError::Malformed("duplicate candidate"))
        );

        let many: Vec<Candidate> = (0..=MAX_CANDIDATES as u16)
            .map(|i| Candidate::new(CandidateKind::Host, SocketAddr::new(a.ip(), i), i))
            .collect();
        assert!(check_candidates(&many[..MAX_CANDIDATES]).is_ok());
        assert_eq!(
            check_candidates(&many),
            Err(HandshakeError::Malformed("too many candidates"))
        );
        let mut bytes = Vec::new();
        encode_candidates(&many, &mut bytes);
        assert_eq!(
            decode_candidates(&mut Reader::new(&bytes)),
            Err(HandshakeError::Malformed("too many candidates"))
        );
    }

    #[test]
    fn a_priority_outside_rfc_8445_range_is_refused() {
        let a = addr("192.0.2.1:5000");
        for priority in [0, MAX_PRIORITY + 1, u32::MAX] {
            let c = Candidate {
                kind: CandidateKind::Host,
                addr: a,
                priority,
            };
            assert_eq!(
                check_candidates(&[c]),
                Err(HandshakeError::Malformed("candidate priority out of range"))
            );
            let mut bytes = Vec::new();
            encode_candidates(&[c], &mut bytes);
            assert!(decode_candidates(&mut Reader::new(&bytes)).is_err());
        }
        let edges = [1, MAX_PRIORITY].map(|priority| Candidate {
            kind: CandidateKind::Relayed,
            addr: SocketAddr::new(a.ip(), priority as u16),
            priority,
        });
        assert_eq!(check_candidates(&edges), Ok(()));
    }

    #[test]
    fn kinds_have_their_ice_names() {
        assert_eq!(CandidateKind::Host.as_str(), "host");
        assert_eq!(CandidateKind::ServerReflexive.as_str(), "srflx");
        assert_eq!(CandidateKind::Relayed.as_str(), "relay");
        assert_eq!(
            serde_json::to_string(&CandidateKind::ServerReflexive).expect("serializes"),
            "\"srflx\""
        );
    }
}
