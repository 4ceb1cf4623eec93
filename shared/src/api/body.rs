//! Reading a request body: JSON only, at most `max_body_bytes`, and for requests that create
//! messages the `Idempotency-Key` header too.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};

use super::error::ApiError;
use super::idempotency::IdempotencyKey;
use super::state::AppState;
use crate::domain::validation::ValidationError;

/// The `Idempotency-Key` (if any) and the JSON body of a request that creates messages.
pub async fn creating_request(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Option<IdempotencyKey>, Bytes), ApiError> {
    let key = headers.get(IdempotencyKey::HEADER).map(|v| IdempotencyKey::parse(v.as_bytes())).transpose()?;
    Ok((key, json_body(app, headers, body).await?))
}

/// A JSON body of at most `max_body_bytes`.
pub async fn json_body(app: &AppState, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    require_json(headers)?;
    read_body(body, headers, app.max_body_bytes).await
}

/// JSON bodies only; a missing Content-Type is taken as JSON, as most clients intend.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let value = value.to_str().unwrap_or_default();
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType { expected: "application/json", got: value.to_string() })
    }
}

/// The body, refused with 413 past `limit` without reading it all.
pub async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, ApiError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::BodyTooLarge { limit });
    }
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(cause) = source {
            if cause.is::<http_body_util::LengthLimitError>() {
                return ApiError::BodyTooLarge { limit };
            }
            source = cause.source();
        }
        ApiError::Validation(ValidationError::bad_request("invalid_body", None, "the request body could not be read"))
    })
}
