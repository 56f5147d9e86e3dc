//! Opening the call's socket, and the one address form the engine sees.
//!
//! A dual-stack IPv6 socket reports IPv4 peers as v4-mapped addresses
//! (`::ffff:a.b.c.d`) and needs them in that form to send. The rest of the
//! engine (candidates, routes, the pair checker) compares plain addresses,
//! so everything is normalised to plain V4 on the way in and mapped back on
//! the way out, here and nowhere else.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// `[::]:0`: a dual-stack socket on a port the OS picks.
pub(crate) const ANY_DUAL_STACK: SocketAddr = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0);

/// Binds `listen`. An unspecified IPv6 address asks for a dual-stack socket
/// (IPV6_V6ONLY off); where that cannot be had (IPv6 disabled), the same
/// port on `0.0.0.0` is used instead. The socket is non-blocking.
pub(crate) fn bind(listen: SocketAddr) -> io::Result<UdpSocket> {
    let socket = if listen.is_ipv6() && listen.ip().is_unspecified() {
        match bind_dual_stack(listen) {
            Ok(socket) => socket,
            Err(err) => {
                tracing::debug!(%err, "no dual-stack socket, falling back to IPv4 only");
                UdpSocket::bind(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    listen.port(),
                ))?
            }
        }
    } else {
        UdpSocket::bind(listen)?
    };
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn bind_dual_stack(listen: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_only_v6(false)?;
    socket.bind(&listen.into())?;
    Ok(socket.into())
}

/// A v4-mapped IPv6 address as the plain IPv4 address it stands for; every
/// other address unchanged.
pub(crate) fn normalise(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

/// The form `addr` must take to be sent to from a socket of the given
/// family: an IPv6 socket reaches IPv4 peers through v4-mapped addresses.
pub(crate) fn on_wire(addr: SocketAddr, ipv6_socket: bool) -> SocketAddr {
    match addr {
        SocketAddr::V4(v4) if ipv6_socket => {
            SocketAddr::V6(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
        }
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_round_trip() {
        let v4: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        let mapped = on_wire(v4, true);
        assert_eq!(
            mapped,
            "[::ffff:192.0.2.7]:4000".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(normalise(mapped), v4);
        assert_eq!(on_wire(v4, false), v4);
        let v6: SocketAddr = "[2001:db8::1]:5".parse().unwrap();
        assert_eq!(normalise(v6), v6);
        assert_eq!(on_wire(v6, true), v6);
    }
}
