//! The listening socket: a connection cap and optional TLS in front of
//! `axum::serve`.
//!
//! Both are done at the listener so that HTTP requests and WebSockets share
//! one cap, and so that plain and TLS servers run through the same
//! `axum::serve` with the same graceful shutdown. A connection over the cap
//! is accepted and closed at once (rather than left in the kernel backlog),
//! and counted. TLS handshakes run in their own tasks with a deadline, so a
//! client that stalls its handshake holds up nobody else.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;

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

enum Source {
    Plain(TcpListener),
    Tls(mpsc::Receiver<(Conn, SocketAddr)>),
}

/// A listener that caps open connections and optionally terminates TLS.
pub struct CappedListener {
    source: Source,
    local: SocketAddr,
    permits: Arc<Semaphore>,
}

impl CappedListener {
    /// Wraps `tcp`, allowing `max` open connections, with TLS if given.
    pub fn new(
        tcp: TcpListener,
        max: usize,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let permits = Arc::new(Semaphore::new(max));
        let source = match tls {
            None => Source::Plain(tcp),
            Some(config) => {
                let (tx, rx) = mpsc::channel(256);
                tokio::spawn(accept_tls(
                    tcp,
                    TlsAcceptor::from(config),
                    Arc::clone(&permits),
                    tx,
                ));
                Source::Tls(rx)
            }
        };
        Ok(Self {
            source,
            local,
            permits,
        })
    }
}

fn admit(permits: &Arc<Semaphore>, stream: &TcpStream) -> Option<OwnedSemaphorePermit> {
    match Arc::clone(permits).try_acquire_owned() {
        Ok(p) => {
            let _ = stream.set_nodelay(true);
            Some(p)
        }
        Err(_) => {
            metrics::CONNECTIONS_REFUSED.inc();
            None
        }
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
    permits: Arc<Semaphore>,
    tx: mpsc::Sender<(Conn, SocketAddr)>,
) {
    loop {
        let (stream, addr) = accept_tcp(&tcp).await;
        let Some(permit) = admit(&permits, &stream) else {
            continue;
        };
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = tx
                        .send((Conn::new(Io::Tls(Box::new(tls)), permit), addr))
                        .await;
                }
                Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
            }
        });
    }
}

impl Listener for CappedListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        match &mut self.source {
            Source::Plain(tcp) => loop {
                let (stream, addr) = accept_tcp(tcp).await;
                if let Some(permit) = admit(&self.permits, &stream) {
                    return (Conn::new(Io::Plain(stream), permit), addr);
                }
            },
            Source::Tls(rx) => match rx.recv().await {
                Some(pair) => pair,
                // The TLS accept task never ends while we hold the receiver.
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

impl Connected<IncomingStream<'_, CappedListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, CappedListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// One admitted connection; frees its slot under the cap when dropped.
pub struct Conn {
    io: Io,
    _permit: OwnedSemaphorePermit,
}

impl Conn {
    fn new(io: Io, permit: OwnedSemaphorePermit) -> Self {
        metrics::CONNECTIONS_OPEN.inc();
        Self {
            io,
            _permit: permit,
        }
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
