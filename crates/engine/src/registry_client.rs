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

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex as StdMutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proto::identity::IdentityKeyPair;
use proto::signaling::{
    AcceptRequest, CallId, CallStatus, ChallengeRequest, ChallengeResponse, ClientMessage,
    ContactList, ErrorBody, ErrorCode, HandshakeBlob, HangupRequest, IdentityKeyBytes,
    IncomingCalls, InitiateRequest, Origin, PresenceInfo, REGISTER_DOMAIN, ROTATE_KEY_DOMAIN,
    RegisterRequest, RegisterResponse, RejectRequest, RotateKeyRequest, SIGN_IN_DOMAIN,
    ServerEvent, SignInRequest, SignInResponse, SignatureBytes, UserInfo, UserList, Username,
    parse, register_message, rotate_key_message, sign_in_message,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, connect_async_tls_with_config};

use crate::registry_tls::{
    CertFingerprint, ConnectOptions, PinnedCertVerifier, Reach, WebPkiRecordingVerifier, classify,
};

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
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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

impl RegistryClient {
    /// A client of the registry at `base_url` (`http://` or `https://`)
    /// acting as `username` with `identity`.
    pub fn new(
        base_url: &str,
        username: Username,
        identity: Arc<IdentityKeyPair>,
    ) -> Result<Self, RegistryError> {
        Self::with_root_certificate(base_url, username, identity, None)
    }

    /// Like [`RegistryClient::new`], also trusting the PEM root
    /// certificate(s) in `root_pem` (for a registry with its own CA).
    pub fn with_root_certificate(
        base_url: &str,
        username: Username,
        identity: Arc<IdentityKeyPair>,
        root_pem: Option<&[u8]>,
    ) -> Result<Self, RegistryError> {
        let options = ConnectOptions {
            root_pem: root_pem.map(<[u8]>::to_vec),
            ..ConnectOptions::default()
        };
        Self::with_options(base_url, username, identity, &options)
    }

    /// A client that connects as `options` says: a pinned certificate, an
    /// extra root, or consent to plain `http://` beyond loopback. Refuses
    /// `http://` to another machine without that consent, and a pin on an
    /// `http://` URL (there is no certificate to pin).
    pub fn with_options(
        base_url: &str,
        username: Username,
        identity: Arc<IdentityKeyPair>,
        options: &ConnectOptions,
    ) -> Result<Self, RegistryError> {
        let base = base_url.trim_end_matches('/').to_owned();
        // From the URL the user gave, never from anything a server says.
        let origin = Origin::from_url(&base).map_err(|e| RegistryError::Config(e.detail))?;
        let class = classify(&base).map_err(|e| RegistryError::Config(e.to_string()))?;
        if !class.tls && options.pinned.is_some() {
            return Err(RegistryError::Config(
                "a certificate fingerprint needs an https:// registry URL".into(),
            ));
        }
        if class.is_insecure() && !options.allow_insecure_http {
            return Err(RegistryError::InsecureHttp(class.reach));
        }
        let refused_cert = Arc::new(StdMutex::new(None));
        let tls = tls_config(options, &refused_cert)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| RegistryError::Config(e.to_string()))?;
        Ok(Self {
            http,
            tls,
            pinned: options.pinned,
            refused_cert,
            base,
            origin,
            username,
            identity,
            token: Mutex::new(None),
            backoff: Backoff::default(),
            socket: std::sync::Mutex::new(None),
            next_req: AtomicU64::new(1),
            socket_steps: AtomicU64::new(0),
        })
    }

    /// Uses `backoff` for the event stream's reconnections.
    pub fn set_backoff(&mut self, backoff: Backoff) {
        self.backoff = backoff;
    }

    /// Whom this client acts as.
    pub fn username(&self) -> &Username {
        &self.username
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The error for a connection that failed with `e`: a pin mismatch or
    /// an untrusted certificate if the verifier refused one meanwhile, else
    /// unreachable.
    fn connection_error(&self, e: impl std::fmt::Display) -> RegistryError {
        let refused = self
            .refused_cert
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match (self.pinned, refused) {
            (Some(expected), Some(got)) => RegistryError::CertificateMismatch { expected, got },
            (None, Some(got)) => RegistryError::UntrustedCertificate { got },
            (_, None) => RegistryError::Unreachable(e.to_string()),
        }
    }

    async fn read<T: DeserializeOwned>(res: reqwest::Response) -> Result<T, RegistryError> {
        let status = res.status();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| RegistryError::Unreachable(e.to_string()))?;
        if status.is_success() {
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::BadAnswer(e.to_string()))
        } else {
            match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => Err(RegistryError::Refused {
                    status: status.as_u16(),
                    code: body.code,
                    message: body.message,
                }),
                Err(_) => Err(RegistryError::BadAnswer(format!(
                    "HTTP {status} without an error body"
                ))),
            }
        }
    }

    async fn post_public<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, RegistryError> {
        let res = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .map_err(|e| self.connection_error(e))?;
        Self::read(res).await
    }

    /// Claims the username for this identity key (first come, first served).
    pub async fn register(&self) -> Result<RegisterResponse, RegistryError> {
        let key = self.identity.public().to_bytes();
        let timestamp = unix_now();
        let msg = register_message(&self.username, &key, timestamp);
        let sig = self.identity.sign(REGISTER_DOMAIN, &msg).to_bytes();
        let req = RegisterRequest {
            username: self.username.clone(),
            identity_key: IdentityKeyBytes::new(key)?,
            timestamp,
            signature: SignatureBytes::new(sig)?,
        };
        self.post_public("/register", &req).await
    }

    /// Signs in now (challenge, signature, token), replacing any token.
    pub async fn sign_in(&self) -> Result<(), RegistryError> {
        let mut slot = self.token.lock().await;
        let token = self.fetch_token().await?;
        *slot = Some(token);
        Ok(())
    }

    async fn fetch_token(&self) -> Result<(String, u64), RegistryError> {
        let ch: ChallengeResponse = self
            .post_public(
                "/auth/challenge",
                &ChallengeRequest {
                    username: self.username.clone(),
                },
            )
            .await?;
        let msg = sign_in_message(&self.username, &self.origin, &ch.challenge);
        let sig = self.identity.sign(SIGN_IN_DOMAIN, &msg).to_bytes();
        let res: SignInResponse = self
            .post_public(
                "/auth/token",
                &SignInRequest {
                    username: self.username.clone(),
                    origin: self.origin.clone(),
                    challenge: ch.challenge,
                    signature: SignatureBytes::new(sig)?,
                },
            )
            .await?;
        Ok((res.token, res.expires_at))
    }

    /// A token valid for at least a minute more, signing in if needed.
    async fn token(&self) -> Result<String, RegistryError> {
        let mut slot = self.token.lock().await;
        if let Some((token, exp)) = slot.as_ref()
            && exp.saturating_sub(unix_now()) > TOKEN_REFRESH_MARGIN
        {
            return Ok(token.clone());
        }
        let fresh = self.fetch_token().await?;
        let token = fresh.0.clone();
        *slot = Some(fresh);
        Ok(token)
    }

    async fn forget_token(&self, used: &str) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|(t, _)| t == used) {
            *slot = None;
        }
    }

    /// Sends an authenticated request built by `build`; on `unauthorized`
    /// signs in again and retries once.
    async fn authed<T: DeserializeOwned>(
        &self,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<T, RegistryError> {
        for attempt in 0..2 {
            let token = self.token().await?;
            let res = build(&self.http, &self.base)
                .bearer_auth(&token)
                .send()
                .await
                .map_err(|e| self.connection_error(e))?;
            match Self::read(res).await {
                Err(RegistryError::Refused {
                    code: ErrorCode::Unauthorized,
                    ..
                }) if attempt == 0 => self.forget_token(&token).await,
                other => return other,
            }
        }
        Err(RegistryError::BadAnswer("token refused twice".into()))
    }

    /// A user's identity key and presence (`GET /fetch/<user>`).
    pub async fn fetch(&self, user: &Username) -> Result<UserInfo, RegistryError> {
        let path = format!("/fetch/{user}");
        self.authed(|c, base| c.get(format!("{base}{path}"))).await
    }

    /// Users whose name starts with `prefix`, with presence.
    pub async fn search(
        &self,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<PresenceInfo>, RegistryError> {
        // The prefix is restricted to username characters, which need no
        // escaping in a query string; the server refuses anything else.
        let path = format!("/users?q={prefix}&limit={limit}");
        let list: UserList = self
            .authed(|c, base| c.get(format!("{base}{path}")))
            .await?;
        Ok(list.users)
    }

    /// The people this user shares presence with (`GET /contacts`).
    pub async fn contacts(&self) -> Result<Vec<Username>, RegistryError> {
        let list: ContactList = self
            .authed(|c, base| c.get(format!("{base}/contacts")))
            .await?;
        Ok(list.contacts)
    }

    /// Adds `user` to the contacts, so that they see this user's presence
    /// (`PUT /contacts/<user>`; adding someone already there is fine).
    /// Returns the list as it is now.
    pub async fn add_contact(&self, user: &Username) -> Result<Vec<Username>, RegistryError> {
        let path = format!("/contacts/{user}");
        let list: ContactList = self
            .authed(|c, base| c.put(format!("{base}{path}")))
            .await?;
        Ok(list.contacts)
    }

    /// Takes `user` off the contacts: they see this user as offline from
    /// now on (`DELETE /contacts/<user>`). Returns the list as it is now.
    pub async fn remove_contact(&self, user: &Username) -> Result<Vec<Username>, RegistryError> {
        let path = format!("/contacts/{user}");
        let list: ContactList = self
            .authed(|c, base| c.delete(format!("{base}{path}")))
            .await?;
        Ok(list.contacts)
    }

    /// Adds whichever of `users` the registry's list lacks: one read, and
    /// one write per missing name. Front ends run it with their pinned
    /// contacts, so pins made before registries kept contact lists (or
    /// while this one was unreachable) still share presence.
    pub async fn ensure_contacts(&self, users: &[Username]) -> Result<(), RegistryError> {
        let have: std::collections::HashSet<Username> =
            self.contacts().await?.into_iter().collect();
        for user in users
            .iter()
            .filter(|u| !have.contains(*u) && *u != self.username())
        {
            match self.add_contact(user).await {
                Ok(_) => {}
                // An account that is gone (or a name pinned by mistake)
                // should not stop the others.
                Err(RegistryError::Refused {
                    code: ErrorCode::UnknownUser,
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// How many call steps were answered on the push socket rather than
    /// over HTTP (for diagnostics and tests).
    pub fn socket_steps(&self) -> u64 {
        self.socket_steps.load(Ordering::Relaxed)
    }

    /// Sends a call step on the live push socket and waits for its answer;
    /// `None` when there is no socket (or it closed before the step was
    /// written), so the caller uses HTTP.
    async fn on_socket(
        &self,
        build: impl FnOnce(u64) -> ClientMessage,
    ) -> Option<Result<CallStatus, RegistryError>> {
        let queue = self
            .socket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        let req = self.next_req.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let step = Step {
            req,
            msg: build(req),
            answer: tx,
        };
        queue.send(step).await.ok()?;
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Ok(Ok(StepResult::Answered(r))) => {
                self.socket_steps.fetch_add(1, Ordering::Relaxed);
                Some(r)
            }
            Ok(Ok(StepResult::NotSent)) => None,
            Ok(Err(_)) => Some(Err(RegistryError::Unreachable(
                "the registry connection dropped before it answered".into(),
            ))),
            Err(_) => Some(Err(RegistryError::Unreachable(
                "no answer from the registry in time".into(),
            ))),
        }
    }

    /// Rings `callee` with the caller's signed Offer (opaque bytes).
    pub async fn initiate(
        &self,
        callee: &Username,
        offer: Vec<u8>,
    ) -> Result<CallStatus, RegistryError> {
        let body = InitiateRequest {
            callee: callee.clone(),
            offer: HandshakeBlob::new(offer)?,
        };
        let step = |req| ClientMessage::Initiate {
            req,
            callee: body.callee.clone(),
            offer: body.offer.clone(),
        };
        if let Some(answer) = self.on_socket(step).await {
            return answer;
        }
        self.authed(|c, base| c.post(format!("{base}/call/initiate")).json(&body))
            .await
    }

    /// Accepts a ringing call with the callee's signed Answer.
    pub async fn accept(
        &self,
        call_id: &CallId,
        answer: Vec<u8>,
    ) -> Result<CallStatus, RegistryError> {
        let body = AcceptRequest {
            call_id: call_id.clone(),
            answer: HandshakeBlob::new(answer)?,
        };
        let step = |req| ClientMessage::Accept {
            req,
            call_id: body.call_id.clone(),
            answer: body.answer.clone(),
        };
        if let Some(answer) = self.on_socket(step).await {
            return answer;
        }
        self.authed(|c, base| c.post(format!("{base}/call/accept")).json(&body))
            .await
    }

    /// Declines a ringing call.
    pub async fn reject(&self, call_id: &CallId) -> Result<CallStatus, RegistryError> {
        let step = |req| ClientMessage::Reject {
            req,
            call_id: call_id.clone(),
        };
        if let Some(answer) = self.on_socket(step).await {
            return answer;
        }
        let body = RejectRequest {
            call_id: call_id.clone(),
        };
        self.authed(|c, base| c.post(format!("{base}/call/reject")).json(&body))
            .await
    }

    /// Ends a call, or cancels it while it still rings.
    pub async fn hangup(&self, call_id: &CallId) -> Result<CallStatus, RegistryError> {
        let step = |req| ClientMessage::Hangup {
            req,
            call_id: call_id.clone(),
        };
        if let Some(answer) = self.on_socket(step).await {
            return answer;
        }
        let body = HangupRequest {
            call_id: call_id.clone(),
        };
        self.authed(|c, base| c.post(format!("{base}/call/hangup")).json(&body))
            .await
    }

    /// Where a call stands (polling fallback).
    pub async fn status(&self, call_id: &CallId) -> Result<CallStatus, RegistryError> {
        let path = format!("/call/status/{call_id}");
        self.authed(|c, base| c.get(format!("{base}{path}"))).await
    }

    /// Calls ringing for this user right now, with their Offers.
    pub async fn incoming(&self) -> Result<Vec<CallStatus>, RegistryError> {
        let list: IncomingCalls = self
            .authed(|c, base| c.get(format!("{base}/call/incoming")))
            .await?;
        Ok(list.calls)
    }

    /// Replaces this user's identity key with `new_identity`, signed by
    /// both keys. Afterwards build a new client with the new key.
    pub async fn rotate_key(
        &self,
        new_identity: &IdentityKeyPair,
    ) -> Result<RegisterResponse, RegistryError> {
        let old_key = self.identity.public().to_bytes();
        let new_key = new_identity.public().to_bytes();
        let timestamp = unix_now();
        let msg = rotate_key_message(&self.username, &old_key, &new_key, timestamp);
        let req = RotateKeyRequest {
            username: self.username.clone(),
            new_identity_key: IdentityKeyBytes::new(new_key)?,
            timestamp,
            old_signature: SignatureBytes::new(
                self.identity.sign(ROTATE_KEY_DOMAIN, &msg).to_bytes(),
            )?,
            new_signature: SignatureBytes::new(
                new_identity.sign(ROTATE_KEY_DOMAIN, &msg).to_bytes(),
            )?,
        };
        self.post_public("/account/rotate-key", &req).await
    }

    /// Opens the push channel, kept connected in the background until the
    /// returned stream is dropped. `subscriptions` names the users whose
    /// presence changes are wanted; change them with
    /// [`EventStream::subscribe`].
    pub fn events(self: &Arc<Self>, subscriptions: Vec<Username>) -> EventStream {
        let (tx, rx) = mpsc::channel(256);
        let (subs_tx, subs_rx) = watch::channel(subscriptions);
        let task = tokio::spawn(run_events(Arc::clone(self), tx, subs_rx));
        EventStream {
            rx,
            subs: subs_tx,
            task,
        }
    }

    fn ws_url(&self) -> String {
        let rest = self
            .base
            .strip_prefix("https://")
            .map(|r| format!("wss://{r}"))
            .or_else(|| {
                self.base
                    .strip_prefix("http://")
                    .map(|r| format!("ws://{r}"))
            })
            .unwrap_or_else(|| self.base.clone());
        format!("{rest}/ws")
    }
}

/// What the push channel reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryEvent {
    /// The socket is up and the registry sees this user online.
    Connected,
    /// The socket dropped; it is retried after `retry_in`.
    Disconnected {
        /// Why, for logs and status lines.
        reason: String,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// Something the registry pushed.
    Server(ServerEvent),
}

/// The live push channel of a [`RegistryClient`]; reconnects by itself.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::Receiver<RegistryEvent>,
    subs: watch::Sender<Vec<Username>>,
    task: JoinHandle<()>,
}

impl EventStream {
    /// The next event; `None` only if the background task ended.
    pub async fn next(&mut self) -> Option<RegistryEvent> {
        self.rx.recv().await
    }

    /// Replaces the presence subscriptions (kept across reconnections).
    pub fn subscribe(&self, usernames: Vec<Username>) {
        self.subs.send_replace(usernames);
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run_events(
    client: Arc<RegistryClient>,
    tx: mpsc::Sender<RegistryEvent>,
    mut subs: watch::Receiver<Vec<Username>>,
) {
    let mut attempt = 0u32;
    loop {
        let reason = match connect_once(&client, &tx, &mut subs, &mut attempt).await {
            Ok(()) => "registry closed the connection".to_owned(),
            Err(e) => e,
        };
        if tx.is_closed() {
            return;
        }
        let retry_in = client.backoff.delay(attempt);
        attempt = attempt.saturating_add(1);
        tracing::debug!(%reason, ?retry_in, "registry socket down");
        if tx
            .send(RegistryEvent::Disconnected { reason, retry_in })
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(retry_in).await;
    }
}

/// One connection's life. Resets `attempt` once the registry welcomed us.
async fn connect_once(
    client: &RegistryClient,
    tx: &mpsc::Sender<RegistryEvent>,
    subs: &mut watch::Receiver<Vec<Username>>,
    attempt: &mut u32,
) -> Result<(), String> {
    let token = client.token().await.map_err(|e| e.to_string())?;
    let mut request = client
        .ws_url()
        .into_client_request()
        .map_err(|e| format!("bad WebSocket URL: {e}"))?;
    let auth = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "token is not a valid header".to_owned())?;
    request.headers_mut().insert("authorization", auth);
    let connector = Connector::Rustls(Arc::clone(&client.tls));
    let (mut ws, _) =
        match connect_async_tls_with_config(request, None, true, Some(connector)).await {
            Ok(pair) => pair,
            Err(tungstenite::Error::Http(res)) if res.status().as_u16() == 401 => {
                // A restarted registry with a new secret: sign in afresh.
                client.forget_token(&token).await;
                return Err("token refused; signing in again".into());
            }
            Err(e) => return Err(client.connection_error(e).to_string()),
        };

    // Call steps of this connection: queued by the client's methods,
    // answered from the socket by number.
    let (step_tx, mut steps) = mpsc::channel::<Step>(16);
    let _live = LiveSocket::open(client, step_tx);
    let mut waiting: HashMap<u64, oneshot::Sender<StepResult>> = HashMap::new();
    let result = serve_socket(&mut ws, tx, subs, attempt, &mut steps, &mut waiting).await;
    // Steps queued but never written may go over HTTP; those written and
    // unanswered fail when `waiting` drops their senders.
    steps.close();
    while let Ok(step) = steps.try_recv() {
        let _ = step.answer.send(StepResult::NotSent);
    }
    result
}

/// Marks a connection's step queue as the client's live socket, and
/// unmarks it when the connection ends.
struct LiveSocket<'a> {
    client: &'a RegistryClient,
    queue: mpsc::Sender<Step>,
}

impl<'a> LiveSocket<'a> {
    fn open(client: &'a RegistryClient, queue: mpsc::Sender<Step>) -> Self {
        *client.socket.lock().unwrap_or_else(PoisonError::into_inner) = Some(queue.clone());
        Self { client, queue }
    }
}

impl Drop for LiveSocket<'_> {
    fn drop(&mut self) {
        let mut slot = self
            .client
            .socket
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // A second event stream of the same client may have taken over.
        if slot.as_ref().is_some_and(|q| q.same_channel(&self.queue)) {
            *slot = None;
        }
    }
}

/// Settles the step numbered `req` with the registry's answer; an answer
/// nobody waits for (timed out) is dropped.
fn settle(
    waiting: &mut HashMap<u64, oneshot::Sender<StepResult>>,
    req: u64,
    answer: Result<CallStatus, RegistryError>,
) {
    if let Some(tx) = waiting.remove(&req) {
        let _ = tx.send(StepResult::Answered(answer));
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Runs one open socket until it closes or the stream's owner goes away.
async fn serve_socket(
    ws: &mut Socket,
    tx: &mpsc::Sender<RegistryEvent>,
    subs: &mut watch::Receiver<Vec<Username>>,
    attempt: &mut u32,
    steps: &mut mpsc::Receiver<Step>,
    waiting: &mut HashMap<u64, oneshot::Sender<StepResult>>,
) -> Result<(), String> {
    use futures_util::{SinkExt, StreamExt};

    let send_subs = |list: Vec<Username>| {
        let msg = ClientMessage::Subscribe { usernames: list };
        Message::Text(
            serde_json::to_string(&msg)
                .expect("ClientMessage always serializes")
                .into(),
        )
    };
    loop {
        tokio::select! {
            frame = tokio::time::timeout(SILENCE_LIMIT, ws.next()) => {
                let frame = match frame {
                    Err(_) => return Err("registry went silent".into()),
                    Ok(None) => return Ok(()),
                    Ok(Some(Err(e))) => return Err(e.to_string()),
                    Ok(Some(Ok(f))) => f,
                };
                match frame {
                    Message::Text(text) => {
                        let ev = match parse::<ServerEvent>(text.as_bytes()) {
                            Ok(ev) => ev,
                            Err(e) => {
                                tracing::warn!(error = %e, "unreadable push from registry");
                                continue;
                            }
                        };
                        match ev {
                            ServerEvent::CallReply { req, status } => {
                                settle(waiting, req, Ok(status));
                                continue;
                            }
                            ServerEvent::CallRefused { req, error } => {
                                let refused = RegistryError::Refused {
                                    status: error.code.http_status(),
                                    code: error.code,
                                    message: error.message,
                                };
                                settle(waiting, req, Err(refused));
                                continue;
                            }
                            _ => {}
                        }
                        if matches!(ev, ServerEvent::Welcome { .. }) {
                            *attempt = 0;
                            let list = subs.borrow_and_update().clone();
                            if !list.is_empty() {
                                ws.send(send_subs(list)).await.map_err(|e| e.to_string())?;
                            }
                            if tx.send(RegistryEvent::Connected).await.is_err() {
                                return Ok(());
                            }
                            continue;
                        }
                        if tx.send(RegistryEvent::Server(ev)).await.is_err() {
                            return Ok(());
                        }
                    }
                    Message::Close(_) => return Ok(()),
                    _ => {}
                }
            }
            Some(step) = steps.recv() => {
                let text = serde_json::to_string(&step.msg).expect("ClientMessage always serializes");
                if let Err(e) = ws.send(Message::Text(text.into())).await {
                    let _ = step.answer.send(StepResult::Answered(Err(
                        RegistryError::Unreachable(e.to_string()),
                    )));
                    return Err(e.to_string());
                }
                waiting.insert(step.req, step.answer);
            }
            changed = subs.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let list = subs.borrow_and_update().clone();
                ws.send(send_subs(list)).await.map_err(|e| e.to_string())?;
            }
        }
    }
}
