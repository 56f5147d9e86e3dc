//! The pqvoice registry: accounts, presence and call signaling.
//!
//! The registry is trusted for availability only. It relays signed handshake
//! messages unchanged and never holds a media key.

use axum::{Json, Router, routing::get};
use serde::Serialize;

/// Answer of `GET /healthz`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// Always `"ok"` when the server answers at all.
    pub status: &'static str,
    /// Version of this server build.
    pub version: &'static str,
}

/// Builds the HTTP router. Tests drive it in-process or over a bound port.
pub fn app() -> Router {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[tokio::test]
    async fn healthz_answers_ok_and_unknown_paths_are_404() {
        let res = app()
            .oneshot(Request::get("/healthz").body(Body::empty()).expect("request"))
            .await
            .expect("router is infallible");
        assert_eq!(res.status(), StatusCode::OK);
        let body = res.into_body().collect().await.expect("body").to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["status"], "ok");

        let res = app()
            .oneshot(Request::get("/nope").body(Body::empty()).expect("request"))
            .await
            .expect("router is infallible");
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}
