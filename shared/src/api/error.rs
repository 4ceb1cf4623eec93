//! The one place where failures become HTTP status codes and `{code, message, field?}` bodies.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tracing::error;

use crate::domain::validation::{ValidationError, ValidationErrorKind};
use crate::enqueue::EnqueueError;
use crate::ports::StoreError;

/// Everything an API route can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PhoneRequired(String),
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("Content-Type must be application/json, got {0:?}")]
    NotJson(String),
    #[error("{message}")]
    MethodNotAllowed { message: String },
    /// A dependency is down: the request was not accepted, so the client may retry it.
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let (status, code, field) = match self {
            ApiError::Validation(err) => {
                let status = match err.kind {
                    ValidationErrorKind::BadRequest => StatusCode::BAD_REQUEST,
                    ValidationErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                };
                (status, err.code, err.field)
            }
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::PhoneRequired(_) => (StatusCode::BAD_REQUEST, "phone_required", Some("x-phone".into())),
            ApiError::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", None),
            ApiError::NotJson(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None),
            ApiError::MethodNotAllowed { .. } => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", None),
        };
        let message = match status {
            StatusCode::PAYLOAD_TOO_LARGE if code == "body_too_large" => format!(
                "{message}; send large media as an https media.url, or upload it with POST /v1/assets/upload and reference it"
            ),
            StatusCode::SERVICE_UNAVAILABLE => {
                format!("{message}; the message was not accepted, retry the request")
            }
            _ => message,
        };
        let mut response = (status, Json(ErrorBody { code, message, field })).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        error!(error = %err, "status store failure");
        ApiError::Unavailable("message storage is temporarily unavailable".into())
    }
}

impl From<EnqueueError> for ApiError {
    fn from(err: EnqueueError) -> Self {
        error!(error = %err, "could not accept a message");
        ApiError::Unavailable(match err {
            EnqueueError::Media(_) => "media storage is temporarily unavailable".into(),
            EnqueueError::Store(_) => "message storage is temporarily unavailable".into(),
            EnqueueError::Queue(_) => "the delivery queue is temporarily unavailable".into(),
        })
    }
}
