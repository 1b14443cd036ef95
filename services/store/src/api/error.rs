//! API errors and their one mapping to HTTP: Prometheus' `errorType` values and status codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answered in Prometheus' JSON error format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (HTTP 400, `bad_data`).
    #[error("{0}")]
    BadData(String),
    /// The query failed while running (HTTP 422, `execution`).
    #[error("{0}")]
    Execution(String),
    /// The query ran out of time (HTTP 503, `timeout`).
    #[error("{0}")]
    Timeout(String),
    /// The store is stopping or overloaded (HTTP 503, `unavailable`).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure (HTTP 500, `internal`).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn error_type(&self) -> &'static str {
        match self {
            ApiError::BadData(_) => "bad_data",
            ApiError::Execution(_) => "execution",
            ApiError::Timeout(_) => "timeout",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadData(_) => StatusCode::BAD_REQUEST,
            ApiError::Execution(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Timeout(_) | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "status": "error",
            "errorType": self.error_type(),
            "error": self.to_string(),
        });
        (
            self.status(),
            [("content-type", "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}
