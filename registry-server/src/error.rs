//! The one error type of the HTTP layer.
//!
//! Every failure leaves as a JSON [`ErrorBody`] with a stable code. Client
//! mistakes carry their detail; server faults are logged here with their
//! detail and shown to the client only as `internal`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use proto::signaling::{ErrorBody, ErrorCode, SignalingError};

use crate::store::StoreError;

/// An error answer of the registry.
#[derive(Debug)]
pub struct AppError(pub SignalingError);

impl AppError {
    /// An error with `code` and a message for the client.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(SignalingError::new(code, message))
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.0.code
    }
}

impl From<SignalingError> for AppError {
    fn from(e: SignalingError) -> Self {
        Self(e)
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        // Storage detail may name files or SQL: log it, do not send it.
        tracing::error!(error = %e, "storage failure");
        Self::new(ErrorCode::Unavailable, "storage is unavailable")
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        crate::metrics::count_error(self.0.code);
        let body = ErrorBody {
            code: self.0.code,
            message: self.0.detail,
        };
        (status, Json(body)).into_response()
    }
}
