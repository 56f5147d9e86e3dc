//! The pqvoice registry: accounts, presence and call signaling.
//!
//! The registry is trusted for availability only (DESIGN §2). It binds
//! usernames to hybrid identity keys, tells clients who is online, and
//! relays each call's signed Offer and Answer unchanged between the two
//! parties. It never holds a media key and cannot forge a handshake.
//!
//! Layout:
//!
//! * [`api`]: REST handlers; [`contacts`]: contact lists and who may see
//!   whose presence; [`ws`]: the push WebSocket.
//! * [`hub`]: live state (connections, ringing and active calls, presence
//!   subscriptions) and the server side of the call state machine.
//! * [`store`]: durable state behind the [`store::Store`] trait, with the
//!   SQLite backend.
//! * [`auth`]: challenges and bearer tokens; [`limits`]: rate limits and
//!   strict body parsing; [`net`]: connection caps, TLS and the HTTP
//!   connection loop with its header timeout.
//! * [`stun`]: the STUN Binding listener on UDP (clients learn their
//!   public address); [`ice`]: `GET /ice`, TURN relay credentials.
//!
//! [`app`] builds the router so tests drive it in-process; [`Server`] runs
//! it on a real socket with graceful shutdown.

pub mod api;
pub mod auth;
pub mod client_input;
pub mod config;
pub mod contacts;
pub mod error;
pub mod hub;
pub mod ice;
pub mod limits;
pub mod metrics;
pub mod net;
pub mod store;
pub mod stun;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router, middleware};
use proto::signaling::{ErrorCode, Health, MAX_REQUEST_BODY};
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;

pub use config::Config;

use crate::auth::{Auth, OriginPolicy};
use crate::config::StunListen;
use crate::error::AppError;
use crate::hub::{Hub, HubConfig};
use crate::ice::TurnIssuer;
use crate::limits::Limits;
use crate::store::{SqliteStore, Store};

/// Name of the token MAC secret in the store.
const TOKEN_SECRET: &str = "token-mac-v1";

/// Seconds since the Unix epoch (0 if the clock is before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Fills `buf` from the OS random source.
pub fn random_bytes(buf: &mut [u8]) {
    // Without OS randomness no token or call id would be safe to hand out;
    // stopping here beats handing out guessable ones.
    getrandom::fill(buf).expect("the OS random source is available");
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Durable storage.
    pub store: Arc<dyn Store>,
    /// Live connections and calls.
    pub hub: Arc<Hub>,
    /// Challenges and tokens.
    pub auth: Arc<Auth>,
    /// Rate limiters.
    pub limits: Arc<Limits>,
    /// Settings.
    pub config: Arc<Config>,
    /// Flips to `true` when the server shuts down; sockets close on it.
    pub shutdown: watch::Sender<bool>,
    /// Who may read `/metrics`.
    pub metrics_access: Arc<metrics::Access>,
    /// TURN credentials, when relays are configured.
    pub turn: Option<Arc<TurnIssuer>>,
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl AppState {
    /// State over `store` with `config`; starts the background writer and
    /// sweeper tasks, so it must run inside a tokio runtime.
    pub async fn new(config: Config, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        metrics::init();
        let mut fresh = [0u8; 32];
        random_bytes(&mut fresh);
        let secret = store.secret(TOKEN_SECRET, &fresh).await?;
        let hub = Hub::new(
            HubConfig {
                ring_timeout: config.ring_timeout,
                disconnect_grace: config.disconnect_grace,
                finished_call_retention: config.finished_call_retention,
            },
            Arc::clone(&store),
        );
        let limits = Arc::new(Limits::new(
            config.rate_per_ip,
            config.burst_per_ip,
            config.rate_per_account,
            config.burst_per_account,
        ));
        let origins = OriginPolicy::new(&config.origins, config.listen, config.tls.is_some());
        let (shutdown, _) = watch::channel(false);
        let metrics_access = Arc::new(metrics::Access::load(
            config.metrics_token_file.as_deref(),
            config.metrics_listen.is_some(),
        )?);
        let turn = TurnIssuer::load(&config)?;
        let state = Self {
            store,
            hub,
            auth: Arc::new(Auth::new(secret, origins)),
            limits,
            config: Arc::new(config),
            shutdown,
            metrics_access,
            turn,
        };
        tokio::spawn(sweep(state.clone()));
        tokio::spawn(sweep_call_records(state.clone()));
        Ok(state)
    }
}

async fn sweep(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut stop = state.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                state.hub.sweep();
                state.auth.sweep(unix_now());
                state.limits.sweep();
            }
            _ = stop.changed() => return,
        }
    }
}

/// Deletes call records past their retention time, once at start and then
/// every `call_sweep_interval`.
async fn sweep_call_records(state: AppState) {
    let mut tick = tokio::time::interval(state.config.call_sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stop = state.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let retention = state.config.call_retention;
                match store::delete_expired_calls(&*state.store, unix_now(), retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(n, "deleted call records past retention"),
                    Err(e) => tracing::error!(error = %e, "could not delete old call records"),
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// `GET /healthz`: up, the version, and whether STUN and TURN are on.
async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        stun: ice::stun_port(&state.config).is_some(),
        turn: state.turn.is_some(),
    })
}

async fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such endpoint")
}

async fn method_not_allowed() -> AppError {
    AppError::new(ErrorCode::MethodNotAllowed, "method not allowed here")
}

/// Builds the HTTP router. Tests drive it in-process or over a bound port.
pub fn app(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    let api = Router::new()
        .route("/register", post(api::register))
        .route("/auth/challenge", post(api::challenge))
        .route("/auth/token", post(api::token))
        .route("/account/rotate-key", post(api::rotate_key))
        .route("/fetch/{username}", get(api::fetch))
        .route("/users", get(api::search))
        .route("/contacts", get(contacts::list))
        .route(
            "/contacts/{username}",
            put(contacts::add).delete(contacts::remove),
        )
        .route("/call/initiate", post(api::initiate))
        .route("/call/accept", post(api::accept))
        .route("/call/reject", post(api::reject))
        .route("/call/hangup", post(api::hangup))
        .route("/call/status/{call_id}", get(api::status))
        .route("/call/incoming", get(api::incoming))
        .route("/ice", get(ice::ice))
        // The WebSocket outlives any request timeout, so it sits outside it.
        .layer(
            tower::ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    AppError::new(ErrorCode::Timeout, "request took too long")
                }))
                .timeout(timeout),
        )
        .route("/ws", get(ws::upgrade))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::ip_limit,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::endpoint))
        .merge(api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            AppError::new(ErrorCode::Internal, "internal error").into_response()
        }))
        .with_state(state)
}

/// A registry running on a real socket.
#[derive(Debug)]
pub struct Server {
    /// The address it listens on (useful with port 0).
    pub addr: SocketAddr,
    /// The address of the `/metrics` listener, if there is one.
    pub metrics_addr: Option<SocketAddr>,
    /// The address of the STUN listener (UDP), if there is one.
    pub stun_addr: Option<SocketAddr>,
    /// Its shared state (tests inspect the hub).
    pub state: AppState,
    task: tokio::task::JoinHandle<()>,
    store: Arc<SqliteStore>,
}

impl Server {
    /// Opens the database, binds `config.listen` and starts serving.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let store = Arc::new(SqliteStore::open(&config.db).await?);
        let tls = match &config.tls {
            Some((cert, key)) => Some(net::load_tls(cert, key)?),
            None => None,
        };
        let tcp = tokio::net::TcpListener::bind(config.listen).await?;
        let listener = net::CappedListener::new(
            tcp,
            config.max_connections,
            config.max_connections_per_ip,
            tls.clone(),
        )?;
        let addr = listener.local_addr();
        let metrics_listener = match config.metrics_listen {
            Some(at) => {
                let tcp = tokio::net::TcpListener::bind(at).await?;
                // Scrapers are few; a small cap keeps this port cheap.
                Some(net::CappedListener::new(tcp, 64, 16, tls)?)
            }
            None => None,
        };
        let metrics_addr = metrics_listener
            .as_ref()
            .map(net::CappedListener::local_addr);
        let stun_socket = match config.stun_listen {
            StunListen::Off => None,
            StunListen::At(at) => Some(
                stun::bind(at)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot listen for STUN on UDP {at}: {e}"))?,
            ),
            // The default must not stop a registry that runs fine over
            // HTTP: without the UDP port it runs without STUN, and says so.
            StunListen::SameAsHttp => match stun::bind(addr).await {
                Ok(socket) => Some(socket),
                Err(e) => {
                    tracing::warn!(
                        %addr,
                        error = %e,
                        "UDP port taken: running without STUN (set --stun-listen)"
                    );
                    None
                }
            },
        };
        let stun_addr = stun_socket
            .as_ref()
            .map(tokio::net::UdpSocket::local_addr)
            .transpose()?;
        let header_timeout = config.header_timeout;
        // Sign-ins name the port clients connect to, and `/ice` the STUN
        // port, known only now for port 0.
        let config = Config {
            listen: addr,
            stun_listen: stun_addr.map_or(StunListen::Off, StunListen::At),
            ..config
        };
        let state = AppState::new(config, Arc::clone(&store) as Arc<dyn Store>).await?;
        let router = app(state.clone());
        let stop = state.shutdown.subscribe();
        let task = tokio::spawn(net::serve(listener, router, header_timeout, stop));
        if let Some(socket) = stun_socket {
            tokio::spawn(stun::serve(socket, state.shutdown.subscribe()));
        }
        if let Some(listener) = metrics_listener {
            let stop = state.shutdown.subscribe();
            tokio::spawn(net::serve(
                listener,
                metrics::router(state.clone()),
                header_timeout,
                stop,
            ));
        }
        tracing::info!(%addr, ?metrics_addr, ?stun_addr, turn = state.turn.is_some(), "registry listening");
        Ok(Self {
            addr,
            metrics_addr,
            stun_addr,
            state,
            task,
            store,
        })
    }

    /// Stops accepting, closes every WebSocket with "service restart",
    /// waits for requests in flight, and closes the database.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.state.shutdown.send(true);
        let result = self.task.await;
        // Let the socket tasks send their close frames and the writer
        // drain (its batching window included) before the database closes.
        tokio::time::sleep(hub::WRITE_BATCH_WINDOW + Duration::from_millis(150)).await;
        self.store.close().await;
        result?;
        Ok(())
    }
}
