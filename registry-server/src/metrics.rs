//! Prometheus text-format metrics (`GET /metrics`).
//!
//! A handful of process-wide atomic counters rendered by hand: the registry
//! needs no label cardinality beyond error codes and call outcomes, and this
//! keeps the hot path to one relaxed atomic add.
//!
//! The figures say how busy the registry is and how calls end, which is
//! nobody else's business, so `/metrics` is not public ([`Access`]): it
//! asks for a bearer token when one is configured, and otherwise answers
//! only clients on a loopback address. With a separate metrics listener it
//! is served there and nowhere else.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use proto::signaling::{CallState, ErrorCode};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::AppState;
use crate::error::AppError;
use crate::limits::PeerAddr;

/// A monotonically increasing counter.
pub struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
pub struct Gauge(AtomicI64);

impl Gauge {
    const fn new() -> Self {
        Self(AtomicI64::new(0))
    }

    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Subtracts one.
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Accounts created.
pub static REGISTRATIONS: Counter = Counter::new();
/// Tokens issued.
pub static SIGN_INS: Counter = Counter::new();
/// Calls placed (including busy ones).
pub static CALLS_INITIATED: Counter = Counter::new();
/// Calls accepted.
pub static CALLS_ACCEPTED: Counter = Counter::new();
/// Pushes queued to WebSockets.
pub static WS_PUSHES: Counter = Counter::new();
/// WebSockets dropped because their push queue was full.
pub static WS_SLOW_DROPS: Counter = Counter::new();
/// Open push WebSockets.
pub static WS_OPEN: Gauge = Gauge::new();
/// Open TCP connections.
pub static CONNECTIONS_OPEN: Gauge = Gauge::new();
/// Connections refused at either connection cap.
pub static CONNECTIONS_REFUSED: Counter = Counter::new();
/// Of those, connections refused because their client address (IPv6: /64)
/// already had its share open.
pub static CONNECTIONS_REFUSED_PER_CLIENT: Counter = Counter::new();
/// Requests refused by a rate limit.
pub static RATE_LIMITED: Counter = Counter::new();
/// STUN Binding requests answered.
pub static STUN_ANSWERS: Counter = Counter::new();
/// STUN Binding requests left unanswered by the rate limits.
pub static STUN_RATE_LIMITED: Counter = Counter::new();

// Final call states and error codes are small closed sets: one counter each,
// indexed by position.
const FINAL_STATES: [CallState; 5] = [
    CallState::Ended,
    CallState::Rejected,
    CallState::Missed,
    CallState::Cancelled,
    CallState::Busy,
];
static CALLS_FINISHED: [Counter; 5] = [const { Counter::new() }; 5];
static ERRORS: [Counter; 64] = [const { Counter::new() }; 64];
static ERROR_CODES: std::sync::OnceLock<Vec<ErrorCode>> = std::sync::OnceLock::new();

/// Counts a call reaching a final state.
pub fn count_finished(state: CallState) {
    if let Some(i) = FINAL_STATES.iter().position(|s| *s == state) {
        CALLS_FINISHED[i].inc();
    }
}

/// Counts an error answer.
pub fn count_error(code: ErrorCode) {
    let i = error_index(code);
    if let Some(c) = ERRORS.get(i) {
        c.inc();
    }
}

fn error_index(code: ErrorCode) -> usize {
    let codes = ERROR_CODES.get_or_init(Vec::new);
    match codes.iter().position(|c| *c == code) {
        Some(i) => i,
        // Codes are registered in `render`'s list; unknown ones share the
        // last slot rather than being lost.
        None => ERRORS.len() - 1,
    }
}

/// Every code rendered, in a fixed order (index = counter slot).
fn init_codes() {
    use ErrorCode as E;
    let _ = ERROR_CODES.set(vec![
        E::MalformedJson,
        E::InvalidUtf8,
        E::UnknownField,
        E::MissingField,
        E::InvalidUsername,
        E::InvalidBase64,
        E::BlobTooLarge,
        E::InvalidCallId,
        E::InvalidField,
        E::PayloadTooLarge,
        E::InvalidIdentityKey,
        E::InvalidSignature,
        E::StaleTimestamp,
        E::UsernameTaken,
        E::UnknownUser,
        E::InvalidChallenge,
        E::WrongOrigin,
        E::Unauthorized,
        E::KeyMismatch,
        E::CallNotFound,
        E::NotAParty,
        E::InvalidTransition,
        E::CalleeOffline,
        E::AlreadyInCall,
        E::SelfCall,
        E::RateLimited,
        E::TooManyConnections,
        E::NotFound,
        E::MethodNotAllowed,
        E::Timeout,
        E::Unavailable,
        E::Internal,
    ]);
}

/// Registers the error codes; call once at start-up before serving.
pub fn init() {
    init_codes();
}

/// The metrics in Prometheus text exposition format.
pub fn render() -> String {
    let mut out = String::with_capacity(4096);
    let mut counter = |name: &str, help: &str, v: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    };
    counter(
        "pqvoice_registrations_total",
        "Accounts created.",
        REGISTRATIONS.get(),
    );
    counter(
        "pqvoice_sign_ins_total",
        "Bearer tokens issued.",
        SIGN_INS.get(),
    );
    counter(
        "pqvoice_calls_initiated_total",
        "Calls placed.",
        CALLS_INITIATED.get(),
    );
    counter(
        "pqvoice_calls_accepted_total",
        "Calls accepted.",
        CALLS_ACCEPTED.get(),
    );
    counter(
        "pqvoice_ws_pushes_total",
        "Events queued to WebSockets.",
        WS_PUSHES.get(),
    );
    counter(
        "pqvoice_ws_slow_drops_total",
        "WebSockets dropped for a full push queue.",
        WS_SLOW_DROPS.get(),
    );
    counter(
        "pqvoice_connections_refused_total",
        "Connections refused at a connection cap.",
        CONNECTIONS_REFUSED.get(),
    );
    counter(
        "pqvoice_connections_refused_per_client_total",
        "Connections refused because their client address had its share open.",
        CONNECTIONS_REFUSED_PER_CLIENT.get(),
    );
    counter(
        "pqvoice_rate_limited_total",
        "Requests refused by a rate limit.",
        RATE_LIMITED.get(),
    );
    counter(
        "pqvoice_stun_answers_total",
        "STUN Binding requests answered.",
        STUN_ANSWERS.get(),
    );
    counter(
        "pqvoice_stun_rate_limited_total",
        "STUN Binding requests left unanswered by a rate limit.",
        STUN_RATE_LIMITED.get(),
    );
    let _ = writeln!(
        out,
        "# HELP pqvoice_ws_open Open push WebSockets.\n# TYPE pqvoice_ws_open gauge\npqvoice_ws_open {}",
        WS_OPEN.get()
    );
    let _ = writeln!(
        out,
        "# HELP pqvoice_connections_open Open TCP connections.\n# TYPE pqvoice_connections_open gauge\npqvoice_connections_open {}",
        CONNECTIONS_OPEN.get()
    );
    let _ = writeln!(
        out,
        "# HELP pqvoice_calls_finished_total Calls by final state.\n# TYPE pqvoice_calls_finished_total counter"
    );
    for (state, c) in FINAL_STATES.iter().zip(&CALLS_FINISHED) {
        let _ = writeln!(
            out,
            "pqvoice_calls_finished_total{{state=\"{}\"}} {}",
            state.as_str(),
            c.get()
        );
    }
    let _ = writeln!(
        out,
        "# HELP pqvoice_errors_total Error answers by code.\n# TYPE pqvoice_errors_total counter"
    );
    if let Some(codes) = ERROR_CODES.get() {
        for (i, code) in codes.iter().enumerate() {
            let _ = writeln!(
                out,
                "pqvoice_errors_total{{code=\"{}\"}} {}",
                code.as_str(),
                ERRORS[i].get()
            );
        }
    }
    out
}

/// Who may read `/metrics`.
#[derive(Debug)]
pub struct Access {
    /// SHA-256 of the configured token; only the hash is kept, so the
    /// token itself is not in memory after start-up.
    token_hash: Option<[u8; 32]>,
    /// `/metrics` lives on its own listener, not the main one.
    separate_listener: bool,
}

impl Access {
    /// Reads the token (trimmed; it must not be empty) from `token_file`,
    /// if given. `separate_listener`: whether a metrics listener serves
    /// `/metrics` instead of the main one.
    pub fn load(token_file: Option<&Path>, separate_listener: bool) -> anyhow::Result<Self> {
        let token_hash = match token_file {
            None => None,
            Some(path) => {
                let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("cannot read metrics token {}: {e}", path.display())
                })?);
                let token = text.trim();
                anyhow::ensure!(
                    !token.is_empty(),
                    "metrics token file {} is empty",
                    path.display()
                );
                Some(Sha256::digest(token.as_bytes()).into())
            }
        };
        Ok(Self {
            token_hash,
            separate_listener,
        })
    }

    /// Whether a request from `peer` with `headers` may read the metrics;
    /// `main_listener` says which listener it came in on.
    fn check(
        &self,
        main_listener: bool,
        peer: Option<IpAddr>,
        headers: &HeaderMap,
    ) -> Result<(), AppError> {
        let hidden = || AppError::new(ErrorCode::NotFound, "no such endpoint");
        if main_listener && self.separate_listener {
            return Err(hidden());
        }
        match &self.token_hash {
            Some(want) => {
                let given = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(|t| <[u8; 32]>::from(Sha256::digest(t.trim().as_bytes())));
                // Hashes of equal length, compared without an early exit.
                let same = given.is_some_and(|got| {
                    got.iter().zip(want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
                });
                if same {
                    Ok(())
                } else {
                    Err(AppError::new(
                        ErrorCode::Unauthorized,
                        "metrics need Authorization: Bearer <metrics token>",
                    ))
                }
            }
            // Its own listener is the operator's choice of who can reach it.
            None if !main_listener => Ok(()),
            // A request driven in-process has no peer: it is the test or
            // the process itself.
            None if peer.is_none_or(|ip| ip.to_canonical().is_loopback()) => Ok(()),
            None => Err(hidden()),
        }
    }
}

fn text() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(),
    )
        .into_response()
}

/// `GET /metrics` on the main listener.
pub async fn endpoint(State(state): State<AppState>, req: axum::extract::Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<PeerAddr>>()
        .map(|ConnectInfo(PeerAddr(a))| a.ip());
    match state.metrics_access.check(true, peer, req.headers()) {
        Ok(()) => text(),
        Err(e) => e.into_response(),
    }
}

async fn endpoint_own_listener(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.metrics_access.check(false, None, &headers) {
        Ok(()) => text(),
        Err(e) => e.into_response(),
    }
}

/// The router of the separate metrics listener: `/metrics` and nothing else.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(endpoint_own_listener))
        .fallback(|| async { AppError::new(ErrorCode::NotFound, "no such endpoint") })
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("address"))
    }

    #[test]
    fn without_a_token_the_main_listener_answers_loopback_only() {
        let open = Access::load(None, false).expect("no file");
        let none = HeaderMap::new();
        assert!(open.check(true, ip("127.0.0.1"), &none).is_ok());
        assert!(open.check(true, ip("::1"), &none).is_ok());
        assert!(open.check(true, ip("::ffff:127.0.0.9"), &none).is_ok());
        let e = open.check(true, ip("192.0.2.7"), &none).unwrap_err();
        assert_eq!(e.code(), ErrorCode::NotFound);
        assert!(open.check(true, ip("2001:db8::1"), &none).is_err());
    }

    #[test]
    fn a_separate_listener_takes_metrics_off_the_main_one() {
        let split = Access::load(None, true).expect("no file");
        let none = HeaderMap::new();
        assert!(split.check(true, ip("127.0.0.1"), &none).is_err());
        assert!(split.check(false, None, &none).is_ok());
    }
}
