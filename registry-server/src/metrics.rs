//! Prometheus text-format metrics (`GET /metrics`).
//!
//! A handful of process-wide atomic counters rendered by hand: the registry
//! needs no label cardinality beyond error codes and call outcomes, and this
//! keeps the hot path to one relaxed atomic add.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use proto::signaling::{CallState, ErrorCode};

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
/// Connections refused at the connection cap.
pub static CONNECTIONS_REFUSED: Counter = Counter::new();
/// Requests refused by a rate limit.
pub static RATE_LIMITED: Counter = Counter::new();

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
        "Connections refused at the cap.",
        CONNECTIONS_REFUSED.get(),
    );
    counter(
        "pqvoice_rate_limited_total",
        "Requests refused by a rate limit.",
        RATE_LIMITED.get(),
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
