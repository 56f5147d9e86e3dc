//! Host candidates: the addresses of this machine's own interfaces.

use std::net::{IpAddr, SocketAddr};

use proto::handshake::{Candidate, CandidateKind};

/// Local preference of the user's forwarded address: above every interface.
const ADVERTISED: u16 = u16::MAX;
/// Interface addresses count down from here, in the order the OS lists them.
const FIRST_INTERFACE: u16 = 60_000;
/// Loopback counts down from here: below every real interface, since it
/// only ever reaches a peer on this same machine.
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
    let (loopback, other): (Vec<IpAddr>, Vec<IpAddr>) =
        ips.into_iter().partition(|ip| ip.is_loopback());
    let ranked = other
        .into_iter()
        .zip((0..=FIRST_INTERFACE).rev().step_by(8))
        .chain(
            loopback
                .into_iter()
                .zip((0..=FIRST_LOOPBACK).rev().step_by(8)),
        );
    for (ip, pref) in ranked {
        let addr = SocketAddr::new(ip, port);
        if out.iter().all(|c| c.addr != addr) {
            out.push(Candidate::new(CandidateKind::Host, addr, pref));
        }
    }
    out
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
