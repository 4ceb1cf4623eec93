//! The one place where failures become HTTP status codes and `{code, message, field?}` bodies.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tracing::{error, warn};

use super::idempotency::{IdempotencyError, IdempotencyKey};
use crate::domain::validation::{ValidationError, ValidationErrorKind};
use crate::ports::{SecretError, StoreError};
use crate::send::{EnqueueError, UploadError};
use crate::telemetry::chain;

/// Everything an API route can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A provider's request whose signature is missing or wrong.
    #[error("{0}")]
    BadSignature(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// Something the path names (a webhook) is not the caller's, with its own code, e.g. `webhook_not_found`.
    #[error("{message}")]
    Missing { code: &'static str, message: String },
    #[error("{0}")]
    PhoneRequired(String),
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// A body of another type than the route reads (`expected`, e.g. application/json).
    #[error("Content-Type must be {expected}, got {got:?}")]
    UnsupportedMediaType { expected: &'static str, got: String },
    #[error("{message}")]
    MethodNotAllowed { message: String },
    #[error("rate limit reached for this API key; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
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
            ApiError::Unauthorized(_) | ApiError::BadSignature(_) => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::Missing { code, .. } => (StatusCode::NOT_FOUND, code, None),
            ApiError::PhoneRequired(_) => (StatusCode::BAD_REQUEST, "phone_required", Some("x-phone".into())),
            ApiError::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", None),
            ApiError::UnsupportedMediaType { .. } => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None)
            }
            ApiError::MethodNotAllowed { .. } => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", None),
            ApiError::RateLimited { retry_after } => {
                let mut response = error_response(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message, None);
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                return response;
            }
            ApiError::Idempotency(IdempotencyError::Store(err)) => {
                if let Some(rejected) = rejected(&err) {
                    return rejected.into_response();
                }
                error!(error = %chain(&err), "idempotency store failure");
                return ApiError::Unavailable("idempotency keys are temporarily unavailable".into()).into_response();
            }
            ApiError::Idempotency(IdempotencyError::Mismatch) => {
                (StatusCode::CONFLICT, "idempotency_key_reused", Some(IdempotencyKey::HEADER.to_string()))
            }
            ApiError::Idempotency(IdempotencyError::InProgress) => {
                let mut response = error_response(StatusCode::CONFLICT, "idempotency_key_in_use", message, None);
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return response;
            }
        };
        let message = match status {
            StatusCode::PAYLOAD_TOO_LARGE if code == "body_too_large" => format!(
                "{message}; send large media as an https media.url, or upload it with POST /v1/media/uploads \
                 (a presigned PUT straight to storage) and send its upload_id"
            ),
            StatusCode::SERVICE_UNAVAILABLE => {
                format!("{message}; the request was not carried out, retry it")
            }
            _ => message,
        };
        let mut response = error_response(status, code, message, field);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

fn error_response(status: StatusCode, code: &str, message: String, field: Option<String>) -> Response {
    (status, Json(ErrorBody { code, message, field })).into_response()
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        if let Some(rejected) = rejected(&err) {
            return rejected;
        }
        error!(error = %chain(&err), "status store failure");
        ApiError::Unavailable("message storage is temporarily unavailable".into())
    }
}

/// A store's refusal of what the request carried: the client's 400, never a 503 to retry.
fn rejected(err: &StoreError) -> Option<ApiError> {
    let StoreError::Rejected { context, .. } = err else { return None };
    warn!(error = %chain(err), "the store refused the request's data");
    Some(ApiError::Validation(ValidationError::bad_request(
        "invalid_request",
        None,
        format!("the request is too large to store ({context}); shorten its text or fields and send it again"),
    )))
}

impl From<SecretError> for ApiError {
    fn from(err: SecretError) -> Self {
        error!(error = %chain(&err), "secret store failure");
        ApiError::Unavailable("the secret store is temporarily unavailable".into())
    }
}

impl From<EnqueueError> for ApiError {
    fn from(err: EnqueueError) -> Self {
        if let Some(rejected) = match &err {
            EnqueueError::Store(store) => rejected(store),
            _ => None,
        } {
            return rejected;
        }
        let err = match err {
            EnqueueError::Upload(err) => return err.into(),
            EnqueueError::Unsupported(err) => return ApiError::Validation(err),
            err => err,
        };
        error!(error = %chain(&err), "could not accept a message");
        ApiError::Unavailable(match err {
            EnqueueError::Media(_) | EnqueueError::Upload(_) | EnqueueError::Unsupported(_) => {
                "media storage is temporarily unavailable".into()
            }
            EnqueueError::Store(_) => "message storage is temporarily unavailable".into(),
            EnqueueError::Queue(_) => "the delivery queue is temporarily unavailable".into(),
        })
    }
}

impl From<UploadError> for ApiError {
    fn from(err: UploadError) -> Self {
        match err {
            UploadError::NotFound { .. } => ApiError::NotFound(err.to_string()),
            UploadError::Invalid(err) => ApiError::Validation(err),
            UploadError::Store(err) => err.into(),
            UploadError::Media(err) => {
                error!(error = %chain(&err), "media storage failure");
                ApiError::Unavailable("media storage is temporarily unavailable".into())
            }
        }
    }
}
