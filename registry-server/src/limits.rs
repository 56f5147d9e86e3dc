//! Abuse resistance: per-IP and per-account rate limits, and the strict
//! JSON body extractor.
//!
//! Rate limits are GCRA token buckets from `governor`, keyed by client IP
//! (every route but `/healthz` and `/metrics`) and by account (every
//! authenticated request and every WebSocket message). They are used
//! directly rather than through `tower_governor` so that a refusal is the
//! same JSON error body as every other error, and so that the account
//! limiter can run after token verification.
//!
//! The per-IP bucket of an IPv6 client is its /64: one host is normally
//! handed a whole /64 and can pick any address in it, so counting single
//! addresses would give it 2^64 buckets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use proto::signaling::{ErrorCode, MAX_REQUEST_BODY, SignalingError, Username, Validate, parse};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::client_input;
use crate::error::AppError;
use crate::metrics;

/// The peer address of a connection, whatever listener accepted it.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The key of `ip`'s per-IP bucket: an IPv4 address as it is (also when
/// it arrives IPv4-mapped on an IPv6 socket), an IPv6 address cut to its /64.
pub fn rate_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

/// The two keyed rate limiters.
pub struct Limits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_account: Option<DefaultKeyedRateLimiter<Username>>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limits { .. }")
    }
}

fn limiter<K: std::hash::Hash + Eq + Clone>(
    rate: u32,
    burst: u32,
) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

impl Limits {
    /// Limits with the given rates per second and bursts; rate 0 disables.
    pub fn new(rate_ip: u32, burst_ip: u32, rate_account: u32, burst_account: u32) -> Self {
        Self {
            per_ip: limiter(rate_ip, burst_ip),
            per_account: limiter(rate_account, burst_account),
        }
    }

    /// Spends one request of the budget of `ip` (of its /64 for IPv6).
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), AppError> {
        match &self.per_ip {
            Some(l) if l.check_key(&rate_key(ip)).is_err() => Err(limited()),
            _ => Ok(()),
        }
    }

    /// Spends one request of `user`'s budget.
    pub fn check_account(&self, user: &Username) -> Result<(), AppError> {
        match &self.per_account {
            Some(l) if l.check_key(user).is_err() => Err(limited()),
            _ => Ok(()),
        }
    }

    /// Forgets idle keys so the limiters' maps do not grow without bound.
    pub fn sweep(&self) {
        if let Some(l) = &self.per_ip {
            l.retain_recent();
        }
        if let Some(l) = &self.per_account {
            l.retain_recent();
        }
    }
}

fn limited() -> AppError {
    metrics::RATE_LIMITED.inc();
    AppError::new(ErrorCode::RateLimited, "too many requests; slow down")
}

/// Middleware: per-IP rate limit.
///
/// Requests driven in-process have no peer address; they share one bucket.
pub async fn ip_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<PeerAddr>>()
        .map(|c| c.0.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if let Err(e) = state.limits.check_ip(ip) {
        return e.into_response();
    }
    next.run(req).await
}

/// A signed-in user, taken from `Authorization: Bearer <token>`.
///
/// The token must be genuine, unexpired and issued for the account's
/// current identity key: one read of the account per request, so that a
/// key rotation revokes every token of the old key at once. Extracting it
/// also spends one request of the account's rate budget.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Username);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| client_input::bearer_token(v.as_bytes()))
            .ok_or_else(|| {
                AppError::new(
                    ErrorCode::Unauthorized,
                    "missing Authorization: Bearer token",
                )
            })?;
        let (user, tag) = state.auth.check_token(token, crate::unix_now())?;
        let current = state.store.user(&user).await?;
        if current.is_none_or(|record| crate::auth::key_tag(&record.identity_key) != tag) {
            return Err(AppError::new(
                ErrorCode::Unauthorized,
                "token was issued for a key this account no longer has; sign in again",
            ));
        }
        state.limits.check_account(&user)?;
        Ok(Self(user))
    }
}

/// A JSON request body parsed and validated by [`proto::signaling::parse`].
///
/// Unlike `axum::Json` it answers every failure with our JSON error body and
/// a precise code (bad UTF-8, unknown field, oversized, ...), and it does not
/// insist on a content type.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T, S> FromRequest<S> for Body<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, AppError> {
        let too_large = || {
            AppError::new(
                ErrorCode::PayloadTooLarge,
                format!("request body must be at most {MAX_REQUEST_BODY} bytes"),
            )
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| client_input::declared_len(v.as_bytes()));
        if declared.is_some_and(|n| n > MAX_REQUEST_BODY as u64) {
            return Err(too_large());
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_REQUEST_BODY)
            .await
            .map_err(|_| too_large())?;
        parse::<T>(&bytes).map(Body).map_err(AppError::from)
    }
}

/// Wraps a path segment check so it answers in our error format.
pub fn path_segment<T>(
    raw: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
    parse: impl FnOnce(&str) -> Result<T, SignalingError>,
) -> Result<T, AppError> {
    let axum::extract::Path(text) =
        raw.map_err(|_| AppError::new(ErrorCode::InvalidField, "path segment is not valid UTF-8"))?;
    parse(&text).map_err(AppError::from)
}

/// Shared handle type for the limiters.
pub type SharedLimits = Arc<Limits>;

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn two_addresses_in_one_ipv6_64_share_a_bucket() {
        let limits = Limits::new(1, 2, 0, 0);
        // Two requests of burst from one address of the /64 ...
        assert!(limits.check_ip(ip("2001:db8:1:2::1")).is_ok());
        assert!(limits.check_ip(ip("2001:db8:1:2::1")).is_ok());
        // ... leave nothing for another address of the same /64 ...
        let e = limits
            .check_ip(ip("2001:db8:1:2:ffff:eeee:dddd:cccc"))
            .expect_err("same /64, same bucket");
        assert_eq!(e.code(), ErrorCode::RateLimited);
        // ... while the next /64 and IPv4 addresses have their own.
        assert!(limits.check_ip(ip("2001:db8:1:3::1")).is_ok());
        assert!(limits.check_ip(ip("192.0.2.1")).is_ok());
        assert!(limits.check_ip(ip("192.0.2.2")).is_ok());
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4() {
        assert_eq!(rate_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_ne!(
            rate_key(ip("::ffff:192.0.2.1")),
            rate_key(ip("::ffff:192.0.2.2"))
        );
        assert_eq!(rate_key(ip("2001:db8::1")), ip("2001:db8::"));
    }
}
