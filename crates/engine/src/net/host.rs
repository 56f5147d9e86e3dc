//! Host candidates: the addresses of this machine's own interfaces.

use std::net::{IpAddr, SocketAddr};

use proto::handshake::{Candidate, CandidateKind};

/// Local preference of the user's forwarded address: above every interface.
const ADVERTISED: u16 = u16::MAX;
/// Interface addresses count down from here, in the order the OS lists them.
const FIRST_INTERFACE: u16 = 60_000;
/// Loopback counts down from here, on a machine that offers nothing else
/// (see [`ranked`]).
const FIRST_LOOPBACK: u16 = 1_000;

/// The host candidates of a socket bound to `local` (already normalised).
///
/// A socket bound to one address offers that address; a wildcard socket
/// offers every address of every interface that is not down, IPv6 only if
/// the socket is dual-stack, and never an IPv6 link-local address (it needs
/// a scope the peer cannot know). `advertise` comes first; with
/// `advertise_only` it is the only one.
pub(crate) fn candidates(
    local: SocketAddr,
    dual_stack: bool,
    port: u16,
    advertise: Option<SocketAddr>,
    advertise_only: bool,
) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    if let Some(addr) = advertise {
        out.push(Candidate::new(CandidateKind::Host, addr, ADVERTISED));
    }
    if advertise_only && advertise.is_some() {
        return out;
    }
    let ips = if local.ip().is_unspecified() {
        interface_ips(local.is_ipv6() || dual_stack)
    } else {
        vec![local.ip()]
    };
    for (ip, pref) in ranked(ips) {
        let addr = SocketAddr::new(ip, port);
        if out.iter().all(|c| c.addr != addr) {
            out.push(Candidate::new(CandidateKind::Host, addr, pref));
        }
    }
    out
}

/// Interface addresses with their local preferences, best first.
///
/// Loopback is offered only by a machine that has no other address (an
/// offline one, where only calls on this machine can work). Otherwise it
/// would only cost checks: the peer is elsewhere, its checks to
/// 127.0.0.1 or ::1 reach its own machine, and each one that goes
/// unanswered spends a packet number the other side counts as lost. Two
/// programs on one machine still reach each other through the machine's
/// own interface addresses.
fn ranked(ips: Vec<IpAddr>) -> Vec<(IpAddr, u16)> {
    let (loopback, other): (Vec<IpAddr>, Vec<IpAddr>) =
        ips.into_iter().partition(|ip| ip.is_loopback());
    if other.is_empty() {
        loopback
            .into_iter()
            .zip((0..=FIRST_LOOPBACK).rev().step_by(8))
            .collect()
    } else {
        other
            .into_iter()
            .zip((0..=FIRST_INTERFACE).rev().step_by(8))
            .collect()
    }
}

/// The unicast addresses of the interfaces that are not down.
fn interface_ips(with_ipv6: bool) -> Vec<IpAddr> {
    let interfaces = match if_addrs::get_if_addrs() {
        Ok(list) => list,
        Err(err) => {
            tracing::warn!(%err, "cannot list the network interfaces");
            return Vec::new();
        }
    };
    let mut ips = Vec::new();
    for iface in interfaces {
        use if_addrs::IfOperStatus::{Down, LowerLayerDown, NotPresent};
        if matches!(iface.oper_status, Down | LowerLayerDown | NotPresent) {
            continue;
        }
        let ip = iface.ip();
        let usable = match ip {
            IpAddr::V4(v4) => !v4.is_unspecified() && !v4.is_broadcast() && !v4.is_multicast(),
            IpAddr::V6(v6) => {
                with_ipv6
                    && !v6.is_unspecified()
                    && !v6.is_multicast()
                    && !v6.is_unicast_link_local()
                    && v6.to_ipv4_mapped().is_none()
            }
        };
        if usable && !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_is_offered_only_by_a_machine_without_other_addresses() {
        let with_lan = ranked(vec![
            ip("127.0.0.1"),
            ip("10.1.0.2"),
            ip("::1"),
            ip("fd00::2"),
        ]);
        let ips: Vec<IpAddr> = with_lan.iter().map(|&(a, _)| a).collect();
        assert_eq!(ips, [ip("10.1.0.2"), ip("fd00::2")]);
        assert!(with_lan[0].1 > with_lan[1].1);

        let offline = ranked(vec![ip("127.0.0.1"), ip("::1")]);
        let ips: Vec<IpAddr> = offline.iter().map(|&(a, _)| a).collect();
        assert_eq!(ips, [ip("127.0.0.1"), ip("::1")]);
        assert!(offline.iter().all(|&(_, p)| p <= FIRST_LOOPBACK));
    }
}
