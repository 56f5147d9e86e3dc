//! Client of the pqvoice registry, used by the CLI and the app.
//!
//! Two halves:
//!
//! * [`RegistryClient`]: the REST calls (register, sign in, look up users,
//!   keep the contact list that decides who sees our presence, place,
//!   accept, reject and hang up calls). It signs in on first use by
//!   signing a server challenge with the device's identity key, together
//!   with the registry's origin taken from the configured URL (so a
//!   registry that relays another one's challenge gets a signature the
//!   other refuses), keeps the
//!   bearer token, refreshes it before it expires and, when the registry
//!   says a token is no longer valid (for example after a restart with a new
//!   database), signs in again and retries once.
//! * [`EventStream`]: the push WebSocket, run by a background task that
//!   reconnects with exponential backoff and jitter whenever the socket
//!   drops. On every (re)connection it re-sends the presence subscriptions,
//!   so a client's view of its contacts survives a registry restart, and the
//!   registry sees the user online again without the caller doing anything.
//!
//! While the socket is up, the call steps (initiate, accept, reject, hang
//! up) travel on it rather than as HTTP requests: one frame each way on a
//! connection that is already open, answered on the same socket with the
//! step's number. Without a socket they go over HTTP, with the same
//! meaning and the same errors. A step that was written to the socket is
//! never repeated over HTTP: if the socket drops before the answer, the
//! step fails as an HTTP request whose response was lost would.
//!
//! HTTPS and WSS use rustls with the ring provider and the Mozilla roots,
//! plus any extra root certificate given (for a self-hosted registry with
//! its own CA), or accept exactly one pinned certificate (a registry hosted
//! with a self-signed one). Plain `http://` beyond loopback is refused
//! unless the caller says the user agreed to it: see [`crate::registry_tls`].
//!
//! The requests live in `request.rs`, the push socket in `push.rs`; this
//! file holds the client's state, its errors and its TLS setup.

use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proto::identity::IdentityKeyPair;
use proto::signaling::{CallStatus, ClientMessage, ErrorCode, Origin, Username};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::registry_tls::{
    CertFingerprint, ConnectOptions, PinnedCertVerifier, Reach, WebPkiRecordingVerifier,
};

mod ice;
mod push;
mod request;

pub use push::{EventStream, RegistryEvent};

/// Refresh the token when less than this remains of its life.
const TOKEN_REFRESH_MARGIN: u64 = 60;
/// Reconnect if the socket carried nothing (not even the server's pings,
/// sent every 30 s) for this long.
const SILENCE_LIMIT: Duration = Duration::from_secs(75);
/// How long one HTTP request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a registry call failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered with an error body.
    #[error("registry refused ({status}): {code}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Stable error code to match on.
        code: ErrorCode,
        /// The registry's explanation.
        message: String,
    },
    /// The registry could not be reached or the connection broke.
    #[error("cannot reach the registry: {0}")]
    Unreachable(String),
    /// The registry answered something this client does not understand.
    #[error("unexpected answer from the registry: {0}")]
    BadAnswer(String),
    /// The configuration given to the client is unusable.
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// Plain `http://` to an address beyond this computer, without the
    /// caller's consent: the token would cross the network readable.
    #[error(
        "refusing plain http:// to an address on {0}: anyone on the way could read the sign-in \
         token and act as you; use https://, or allow insecure http explicitly"
    )]
    InsecureHttp(Reach),
    /// The registry showed a certificate other than the pinned one; the
    /// connection was closed before anything was sent.
    #[error(
        "the registry's certificate does not match the pinned fingerprint (expected {expected}, \
         got {got}); nothing was sent. If its owner made a new certificate, ask them for the \
         new fingerprint"
    )]
    CertificateMismatch {
        /// The pin.
        expected: CertFingerprint,
        /// What the server showed.
        got: CertFingerprint,
    },
    /// Without a pin, the registry showed a certificate that WebPKI does
    /// not accept (self-signed, unknown CA, wrong name, expired); the
    /// connection was closed before anything was sent.
    #[error(
        "the registry's certificate is not trusted (its SHA-256 fingerprint is {got}); nothing \
         was sent. A registry hosted with a self-signed certificate is joined by pinning the \
         fingerprint its host shows, after comparing it with them"
    )]
    UntrustedCertificate {
        /// What the server showed.
        got: CertFingerprint,
    },
    /// A value given to the client breaks a signaling rule (size, name).
    #[error(transparent)]
    Invalid(#[from] proto::signaling::SignalingError),
}

impl RegistryError {
    /// The registry's error code, when it refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Refused { code, .. } => Some(*code),
            Self::Invalid(e) => Some(e.code),
            _ => None,
        }
    }
}

/// Delays between reconnection attempts: doubling from `initial` to `max`,
/// each with up to 50 % random jitter so that clients of a restarted
/// registry do not all return in the same millisecond.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    fn delay(&self, attempt: u32) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max);
        // Jitter from the clock's nanoseconds: unpredictability is not a
        // security property here, only spreading.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let jitter = base.mul_f64(f64::from(nanos % 500) / 1000.0);
        base + jitter
    }
}

fn unix_now() -> u64 {
    crate::clock::unix_now().as_secs()
}

/// The rustls configuration for `options`: a [`PinnedCertVerifier`] when
/// a fingerprint is pinned, else WebPKI over the Mozilla roots and any extra
/// ones; either reports a certificate it refuses in `refused`.
fn tls_config(
    options: &ConnectOptions,
    refused: &Arc<StdMutex<Option<CertFingerprint>>>,
) -> Result<Arc<rustls::ClientConfig>, RegistryError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| RegistryError::Config(e.to_string()))?;
    if let Some(pin) = options.pinned {
        let verifier = PinnedCertVerifier::new(
            pin,
            provider.signature_verification_algorithms,
            Arc::clone(refused),
        );
        return Ok(Arc::new(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth(),
        ));
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = options.root_pem.as_deref() {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| RegistryError::Config(format!("bad root PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| RegistryError::Config(format!("bad root certificate: {e}")))?;
        }
    }
    let webpki =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| RegistryError::Config(e.to_string()))?;
    let verifier = WebPkiRecordingVerifier::new(webpki, Arc::clone(refused));
    Ok(Arc::new(
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth(),
    ))
}

/// A signed-in (or about to be) user of one registry.
pub struct RegistryClient {
    http: reqwest::Client,
    tls: Arc<rustls::ClientConfig>,
    /// The pin, if any, and the last certificate it refused.
    pinned: Option<CertFingerprint>,
    refused_cert: Arc<StdMutex<Option<CertFingerprint>>>,
    /// `http(s)://host:port`, without a trailing slash.
    base: String,
    /// The origin of `base`, signed at every sign-in.
    origin: Origin,
    username: Username,
    identity: Arc<IdentityKeyPair>,
    token: Mutex<Option<(String, u64)>>,
    backoff: Backoff,
    /// The live push socket's queue of call steps, while one is up.
    socket: std::sync::Mutex<Option<mpsc::Sender<Step>>>,
    /// Numbers for call steps sent on the socket.
    next_req: AtomicU64,
    /// Call steps answered on the socket so far.
    socket_steps: AtomicU64,
}

/// A call step for the push socket, with where its answer goes.
#[derive(Debug)]
struct Step {
    /// The number inside `msg`, which its answer carries back.
    req: u64,
    msg: ClientMessage,
    answer: oneshot::Sender<StepResult>,
}

/// What became of a [`Step`].
#[derive(Debug)]
enum StepResult {
    /// The registry answered.
    Answered(Result<CallStatus, RegistryError>),
    /// The socket went away before the step was written: it is safe to
    /// send it over HTTP instead.
    NotSent,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither the token nor the key belongs in a log.
        f.debug_struct("RegistryClient")
            .field("base", &self.base)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}
