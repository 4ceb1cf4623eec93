//! Answering a creating request at most once per `Idempotency-Key`.

use std::future::Future;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use axum::body::{Body, Bytes};

use super::error::ApiError;
use super::messages::{read_body, require_json};
use super::{AppState, Caller};
use crate::idempotency::{Answer, IdempotencyKey, fingerprint, run_once};

/// The `Idempotency-Key` (if any) and the JSON body of a request that creates messages.
pub async fn creating_request(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Option<IdempotencyKey>, Bytes), ApiError> {
    let key = headers.get(IdempotencyKey::HEADER).map(|v| IdempotencyKey::parse(v.as_bytes())).transpose()?;
    require_json(headers)?;
    Ok((key, read_body(body, headers, app.max_body_bytes).await?))
}

/// Runs `work` (which returns the JSON answer) and answers 200 with it; with a key, only the
/// first request with that key runs it, and the others get its answer back byte for byte.
pub async fn answer_once<F, Fut>(
    app: &AppState,
    caller: &Caller,
    key: Option<IdempotencyKey>,
    route: &str,
    phone_id: &str,
    body: &[u8],
    work: F,
) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String, ApiError>>,
{
    let Some(key) = key else { return Ok(json_ok(work().await?, false)) };
    // The body was validated as JSON already; an empty one fingerprints as null.
    let value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    let fingerprint = fingerprint(route, phone_id, &value);
    match run_once(app.idempotency.as_ref(), &caller.org_id, &key, &fingerprint, work).await? {
        Ok(Answer::Fresh(answer)) => Ok(json_ok(answer, false)),
        Ok(Answer::Replayed(answer)) => Ok(json_ok(answer, true)),
        Err(err) => Err(err),
    }
}

fn json_ok(body: String, replayed: bool) -> Response {
    let mut response =
        (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
