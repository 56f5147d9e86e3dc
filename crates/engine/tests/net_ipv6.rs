//! IPv6 on the dual-stack socket: a peer on an IPv6 address is reached and
//! heard as IPv6 (not mapped), next to IPv4 peers on the same socket.

mod net_support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use engine::net::{self, GatherOptions, IceServers, Route};

#[test]
fn one_socket_carries_ipv6_and_ipv4_peers() {
    let Ok(v6_peer) = UdpSocket::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here; nothing to test");
        return;
    };
    let v4_peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let gathered = net::gather(&IceServers::default(), &GatherOptions::default()).unwrap();
    let mut transport = gathered.transport;
    let port = transport.local_addr().port();
    let v6_local: SocketAddr = SocketAddr::new("::1".parse().unwrap(), port);
    // ::1 itself is offered only on a machine with no other address (see
    // `net_gather`); the socket is reachable on it all the same.
    assert!(
        gathered
            .candidates
            .iter()
            .all(|c| c.addr.port() == port && !c.addr.ip().is_unspecified()),
        "{:?}",
        gathered.candidates
    );

    v6_peer.send_to(&net_support::packet(1), v6_local).unwrap();
    v4_peer
        .send_to(&net_support::packet(2), ("127.0.0.1", port))
        .unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < 2 {
        assert!(Instant::now() < deadline, "only {got:?} arrived");
        got.extend(
            net_support::drain(&mut transport)
                .into_iter()
                .map(|(r, _)| r),
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let v6_from = v6_peer.local_addr().unwrap();
    let v4_from = v4_peer.local_addr().unwrap();
    got.sort_by_key(|r| r.remote().is_ipv6());
    assert_eq!(got, vec![Route::Direct(v4_from), Route::Direct(v6_from)]);

    transport
        .send(
            Route::Direct(v6_from),
            &net_support::packet(3),
            Instant::now(),
        )
        .unwrap();
    v6_peer
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 1500];
    let (n, src) = v6_peer.recv_from(&mut buf).unwrap();
    assert_eq!(n, net_support::PACKET_LEN);
    assert_eq!(src, v6_local);
}
