//! The impairment relay over real loopback UDP: it forwards both ways, applies
//! the loss model, and keeps going when fed junk.

use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use engine::netsim::{ImpairmentConfig, Relay};

fn socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    s
}

#[test]
fn relays_both_directions_with_delay() {
    let server = socket();
    let client = socket();
    let relay = Relay::start(
        "127.0.0.1:0".parse().expect("addr"),
        server.local_addr().expect("addr"),
        ImpairmentConfig {
            delay: Duration::from_millis(30),
            ..Default::default()
        },
        1,
    )
    .expect("relay");
    let t0 = Instant::now();
    client.send_to(b"ping", relay.listen_addr()).expect("send");
    let mut buf = [0u8; 64];
    let (n, from) = server.recv_from(&mut buf).expect("forwarded datagram");
    assert_eq!(&buf[..n], b"ping");
    assert!(
        t0.elapsed() >= Duration::from_millis(30),
        "delay not applied"
    );
    // The reply goes back to the relay's forward socket and on to the client.
    server.send_to(b"pong", from).expect("reply");
    let (n, back_from) = client.recv_from(&mut buf).expect("returned datagram");
    assert_eq!(&buf[..n], b"pong");
    assert_eq!(back_from, relay.listen_addr());
    relay.stop();
}

#[test]
fn loss_over_real_sockets_matches_the_model() {
    let server = socket();
    server
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let client = socket();
    let relay = Relay::start(
        "127.0.0.1:0".parse().expect("addr"),
        server.local_addr().expect("addr"),
        ImpairmentConfig {
            loss: 0.2,
            ..Default::default()
        },
        99,
    )
    .expect("relay");
    let n = 2000u32;
    // Read concurrently so the server's socket buffer never overflows.
    let reader = std::thread::spawn(move || {
        let mut got = 0u32;
        let mut buf = [0u8; 16];
        while server.recv_from(&mut buf).is_ok() {
            got += 1;
        }
        got
    });
    for i in 0..n {
        client
            .send_to(&i.to_be_bytes(), relay.listen_addr())
            .expect("send");
        if i % 5 == 0 {
            // Pace the sender so that the relay's socket buffer keeps up even
            // on a loaded machine.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let got = reader.join().expect("reader");
    let stats = relay.stats();
    // The kernel may drop a few datagrams before the relay sees them when
    // the machine is busy; the model applies to what the relay received.
    let received = stats.forward.received.load(Ordering::Relaxed);
    assert!(received > u64::from(n) / 2, "relay saw only {received}");
    let dropped = stats.forward.dropped.load(Ordering::Relaxed);
    assert_eq!(u64::from(got) + dropped, received);
    let rate = dropped as f64 / received as f64;
    assert!((0.16..0.24).contains(&rate), "loss rate {rate}");
}

#[test]
fn survives_junk_and_large_datagrams() {
    let server = socket();
    let client = socket();
    let relay = Relay::start(
        "127.0.0.1:0".parse().expect("addr"),
        server.local_addr().expect("addr"),
        ImpairmentConfig::default(),
        5,
    )
    .expect("relay");
    let big = vec![0xAB; 60_000];
    client.send_to(&big, relay.listen_addr()).expect("send");
    client.send_to(&[], relay.listen_addr()).expect("send");
    let mut buf = vec![0u8; 65_536];
    let (n, _) = server.recv_from(&mut buf).expect("big datagram");
    assert_eq!(n, big.len());
    let (n, _) = server.recv_from(&mut buf).expect("empty datagram");
    assert_eq!(n, 0);
    // A stranger sending to the relay's forward socket is ignored.
    let stranger = socket();
    let fwd = {
        client.send_to(b"x", relay.listen_addr()).expect("send");
        server.recv_from(&mut buf).expect("datagram").1
    };
    stranger.send_to(b"evil", fwd).expect("send");
    assert!(
        client.recv_from(&mut buf).is_err(),
        "stranger's datagram relayed"
    );
}
