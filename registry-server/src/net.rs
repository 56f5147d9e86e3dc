//! The listening socket: connection caps, optional TLS and the HTTP/1.1
//! connection loop with its timers.
//!
//! Caps and TLS are done at the listener so that HTTP requests and
//! WebSockets share them, and so that plain and TLS servers run through
//! the same connection loop with the same graceful shutdown. There are two
//! caps: one for the whole server and one per client address (an IPv6
//! client is keyed by its /64, which one host usually owns whole), so one
//! address cannot take every slot. A connection over either cap is accepted
//! and closed at once (rather than left in the kernel backlog), and
//! counted. TLS handshakes run in their own tasks with a deadline, so a
//! client that stalls its handshake holds up nobody else.
//!
//! [`serve`] drives each connection with hyper's HTTP/1.1 server and a
//! header-read timer: a client must finish each request's header within
//! the timeout, counted from when the connection opened or its previous
//! response was sent. That one timer ends both the slowloris (a header
//! trickled a byte at a time, or never sent) and keep-alive connections
//! left idle. A connection upgraded to the push WebSocket leaves hyper, and
//! from then on the socket's own ping and send deadlines (see
//! [`crate::ws`]) decide when it is dead.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;
use tower::ServiceExt as _;

use crate::limits::PeerAddr;
use crate::metrics;

/// How long a client may take to finish its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Loads a PEM certificate chain and private key into a rustls config that
/// speaks HTTP/1.1 (WebSocket upgrades need it).
pub fn load_tls(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("bad certificate in {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("cannot read key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The key a client's connections are counted under: its IPv4 address, or
/// the /64 network of its IPv6 address (an IPv4 client reaching a
/// dual-stack socket counts as that IPv4 address).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let net = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(net))
            }
        },
    }
}

/// The two connection caps: for the whole server and per client key.
#[derive(Clone)]
struct Caps {
    total: Arc<Semaphore>,
    per_client: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max_per_client: usize,
}

/// One connection's place under both caps, given back when dropped.
struct Slot {
    _total: OwnedSemaphorePermit,
    key: IpAddr,
    per_client: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = lock_counts(&self.per_client);
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                // Only addresses with open connections take memory.
                map.remove(&self.key);
            }
        }
    }
}

fn lock_counts(
    m: &Mutex<HashMap<IpAddr, usize>>,
) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
    // The map is consistent between statements; a panic elsewhere while
    // holding it must not stop the server from accepting.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Caps {
    fn admit(&self, stream: &TcpStream, addr: SocketAddr) -> Option<Slot> {
        let refused = || {
            metrics::CONNECTIONS_REFUSED.inc();
            None
        };
        let Ok(total) = Arc::clone(&self.total).try_acquire_owned() else {
            return refused();
        };
        let key = client_key(addr.ip());
        {
            let mut map = lock_counts(&self.per_client);
            let n = map.entry(key).or_insert(0);
            if *n >= self.max_per_client {
                drop(map);
                metrics::CONNECTIONS_REFUSED_PER_CLIENT.inc();
                return refused();
            }
            *n += 1;
        }
        let _ = stream.set_nodelay(true);
        Some(Slot {
            _total: total,
            key,
            per_client: Arc::clone(&self.per_client),
        })
    }
}

enum Source {
    Plain(TcpListener),
    Tls(mpsc::Receiver<(Conn, SocketAddr)>),
}

/// A listener that caps open connections and optionally terminates TLS.
pub struct CappedListener {
    source: Source,
    local: SocketAddr,
    caps: Caps,
}

impl CappedListener {
    /// Wraps `tcp`, allowing `max` open connections in all and
    /// `max_per_client` from one client key ([`client_key`]), with TLS if
    /// given.
    pub fn new(
        tcp: TcpListener,
        max: usize,
        max_per_client: usize,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let caps = Caps {
            total: Arc::new(Semaphore::new(max)),
            per_client: Arc::new(Mutex::new(HashMap::new())),
            max_per_client,
        };
        let source = match tls {
            None => Source::Plain(tcp),
            Some(config) => {
                let (tx, rx) = mpsc::channel(256);
                tokio::spawn(accept_tls(tcp, TlsAcceptor::from(config), caps.clone(), tx));
                Source::Tls(rx)
            }
        };
        Ok(Self {
            source,
            local,
            caps,
        })
    }

    /// The next admitted connection and its peer address.
    pub async fn accept(&mut self) -> (Conn, SocketAddr) {
        match &mut self.source {
            Source::Plain(tcp) => loop {
                let (stream, addr) = accept_tcp(tcp).await;
                if let Some(slot) = self.caps.admit(&stream, addr) {
                    return (Conn::new(Io::Plain(stream), slot), addr);
                }
            },
            Source::Tls(rx) => match rx.recv().await {
                Some(pair) => pair,
                // The TLS accept task never ends while we hold the receiver.
                None => std::future::pending().await,
            },
        }
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

async fn accept_tcp(tcp: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match tcp.accept().await {
            Ok(pair) => return pair,
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn accept_tls(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    caps: Caps,
    tx: mpsc::Sender<(Conn, SocketAddr)>,
) {
    loop {
        let (stream, addr) = accept_tcp(&tcp).await;
        let Some(slot) = caps.admit(&stream, addr) else {
            continue;
        };
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = tx
                        .send((Conn::new(Io::Tls(Box::new(tls)), slot), addr))
                        .await;
                }
                Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
            }
        });
    }
}

/// Resolves once the server is shutting down (or its state is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Serves `router` on every connection `listener` admits until `stop`
/// turns `true`, then stops accepting, lets requests in flight finish and
/// returns once every connection has closed or been upgraded.
///
/// `header_timeout` bounds how long a client may take to send a request's
/// header, counted from the connection's start or its last response (so it
/// is also the keep-alive idle timeout).
pub async fn serve(
    mut listener: CappedListener,
    router: Router,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    // Each connection task holds a sender; the receiver sees the channel
    // close when the last task has ended.
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    loop {
        let (conn, addr) = tokio::select! {
            pair = listener.accept() => pair,
            _ = stopped(&mut stop) => break,
        };
        let service = router
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(PeerAddr(addr)));
                req.map(axum::body::Body::new)
            });
        let service = TowerToHyperService::new(service);
        let mut stop = stop.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let _open = open;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let mut conn = pin!(
                http.serve_connection(TokioIo::new(conn), service)
                    .with_upgrades()
            );
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%addr, error = %e, "connection ended");
                    }
                }
                _ = stopped(&mut stop) => {
                    // Finish the request in flight, then close; an idle
                    // connection closes at once.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    drop(open);
    let _ = all_closed.recv().await;
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// One admitted connection; frees its slots under the caps when dropped.
pub struct Conn {
    io: Io,
    _slot: Slot,
}

impl Conn {
    fn new(io: Io, slot: Slot) -> Self {
        metrics::CONNECTIONS_OPEN.inc();
        Self { io, _slot: slot }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        metrics::CONNECTIONS_OPEN.dec();
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> IpAddr {
        client_key(s.parse().expect("address"))
    }

    #[test]
    fn ipv6_clients_count_by_their_64_and_ipv4_by_address() {
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff:1:2:3"));
        assert_eq!(
            key("2001:db8:1:2::7"),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
        // An IPv4 client on a dual-stack socket is the same client.
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
    }
}
