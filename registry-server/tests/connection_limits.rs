//! Connection exhaustion: one address holding many silent or half-sent
//! connections gets only its own share of the server's slots, cannot keep
//! anyone else from signing in, and loses each silent connection after the
//! header timeout.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const NEWCOMER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

async fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(from, 0)).expect("bind source");
    socket.connect(to).await.expect("connect")
}

/// Reads until the server closes; how long that took, or `None` if it
/// stayed open for `limit`.
async fn closed_within(stream: &mut (impl AsyncRead + Unpin), limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit.saturating_sub(start.elapsed()), stream.read(&mut buf))
            .await
        {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            // A response (such as to a whole request) is not a close.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn silent_connections_from_one_address_do_not_lock_others_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(&dir.path().join("reg.sqlite3"));
    // Small caps so the test reaches them: the whole server would be full
    // with one address's connections if that address had no cap of its own.
    c.max_connections = 16;
    c.max_connections_per_ip = 8;
    c.header_timeout = Duration::from_secs(10);
    let server = start(c).await;

    // Sixteen silent connections and eight that send half a header, all
    // from one address.
    let mut silent = Vec::new();
    for _ in 0..16 {
        silent.push(connect_from(ATTACKER, server.addr).await);
    }
    for _ in 0..8 {
        let mut s = connect_from(ATTACKER, server.addr).await;
        let _ = s
            .write_all(b"POST /auth/challenge HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await;
        silent.push(s);
    }
    // Past its eight, the address's connections are closed at once (the
    // eight admitted ones stay open: the header timeout is 10 s).
    let closed = futures_util::future::join_all(
        silent
            .iter_mut()
            .map(|s| closed_within(s, Duration::from_secs(3))),
    )
    .await;
    let refused = closed.iter().filter(|c| c.is_some()).count();
    assert_eq!(refused, 24 - 8, "connections over the per-address cap");

    // Someone at another address registers, signs in and opens a socket.
    let mut carol = User::new(&server, "carol", 3);
    carol.http = reqwest::Client::builder()
        .local_address(NEWCOMER)
        .build()
        .expect("client");
    carol.register().await;
    carol.sign_in().await;
    let (s, v) = carol.get("/fetch/carol").await;
    assert_eq!(s, 200, "{v}");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_silent_or_idle_connection_is_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(&dir.path().join("reg.sqlite3"));
    c.header_timeout = Duration::from_secs(1);
    let server = start(c).await;

    // Nothing sent at all.
    let mut silent = connect_from(ATTACKER, server.addr).await;
    // A header trickled a byte every 200 ms: 7 s for the whole of it.
    let (mut trickle_in, mut trickle_out) = connect_from(ATTACKER, server.addr).await.into_split();
    tokio::spawn(async move {
        for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" {
            if trickle_out.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    // A keep-alive connection left idle after one whole request.
    let mut idle = connect_from(ATTACKER, server.addr).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");

    let limit = Duration::from_secs(6);
    assert!(
        closed_within(&mut silent, limit).await.is_some(),
        "a silent connection stays open"
    );
    assert!(
        closed_within(&mut idle, limit).await.is_some(),
        "an idle keep-alive connection stays open"
    );
    assert!(
        closed_within(&mut trickle_in, limit).await.is_some(),
        "a trickled header keeps its connection open"
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_push_socket_that_stops_reading_is_closed() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(&dir.path().join("reg.sqlite3"));
    c.ws_send_timeout = Duration::from_secs(1);
    let server = start(c).await;
    let mut dave = User::new(&server, "dave", 4);
    dave.register().await;
    dave.sign_in().await;

    // A socket with a tiny receive buffer that never reads.
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("buffer size");
    let stream = socket.connect(server.addr).await.expect("connect");
    let mut req = format!("ws://{}/ws", server.addr)
        .into_client_request()
        .expect("request");
    let bearer = format!("Bearer {}", dave.token.as_deref().expect("token"));
    req.headers_mut()
        .insert("authorization", bearer.parse().expect("header"));
    let (mut ws, _) = tokio_tungstenite::client_async(req, stream)
        .await
        .expect("upgrade");
    // Each frame asks for a thousand presence answers (~70 KB back).
    let names: Vec<String> = (0..1000).map(|i| format!("user{i:04}")).collect();
    let frame = serde_json::json!({"type": "subscribe", "usernames": names}).to_string();
    let writer = tokio::spawn(async move {
        for _ in 0..300 {
            let send = ws.send(Message::Text(frame.clone().into()));
            if tokio::time::timeout(Duration::from_secs(1), send)
                .await
                .is_err()
            {
                break;
            }
        }
        ws
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    tokio::time::sleep(Duration::from_millis(500)).await;
    while server.state.hub.connected_count() > 0 {
        assert!(
            Instant::now() < deadline,
            "a socket that does not read stays connected"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(writer.await.expect("writer"));
    server.shutdown().await.expect("clean shutdown");
}
