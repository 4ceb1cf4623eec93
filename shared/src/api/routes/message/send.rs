//! `POST /v1/message/send` and `GET /v1/message/{id}/status`, in Periskope's shapes.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde::Serialize;

use super::error::ApiError;
use super::keyed::{answer_once, creating_request};
use super::{AppState, Caller};
use crate::domain::message::{AttemptLogEntry, MessageRecord, Timeline, is_queue_id};
use crate::domain::send::parse_send_request;
use crate::domain::validation::ValidationError;
use crate::enqueue::Accepted;

/// Longer than any queue_id or unique_id.
const MAX_ID_BYTES: usize = 128;

#[derive(Serialize)]
pub struct SendResponse {
    status: &'static str,
    queue_id: String,
    queue_position: u64,
    unique_id: String,
    track_by: TrackBy,
    hint: String,
}

#[derive(Serialize)]
struct TrackBy {
    unique_id: String,
    queue_id: String,
}

pub async fn send(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (idempotency_key, bytes) = creating_request(&app, &headers, body).await?;
    let message = parse_send_request(&bytes)?;
    let phone = app.resolve_phone(&caller, &headers).await?;
    let enqueue = || async {
        let accepted = app.enqueuer.enqueue_message(&caller.org_id, &phone, message).await?;
        Ok(serde_json::to_string(&SendResponse::from(accepted)).unwrap_or_default())
    };
    answer_once(&app, &caller, idempotency_key, "POST /v1/message/send", &phone.phone_id, &bytes, enqueue).await
}

impl From<Accepted> for SendResponse {
    fn from(accepted: Accepted) -> Self {
        SendResponse {
            status: "queued",
            track_by: TrackBy {
                unique_id: format!("GET /message/{}/status", accepted.unique_id),
                queue_id: format!("GET /queue/jobs?queue_id={}", accepted.queue_id),
            },
            hint: format!(
                "You can track message status using GET /v1/message/{}/status or the fetch jobs api - /queue/jobs?queue_id={}",
                accepted.unique_id, accepted.queue_id
            ),
            queue_id: accepted.queue_id,
            queue_position: accepted.queue_position,
            unique_id: accepted.unique_id,
        }
    }
}

#[derive(Serialize)]
pub struct StatusResponse {
    unique_id: String,
    queue_id: String,
    chat_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<String>,
    status: &'static str,
    status_description: String,
    attempts: u32,
    attempt_log: Vec<AttemptLogEntry>,
    timeline: Timeline,
}

impl From<MessageRecord> for StatusResponse {
    fn from(record: MessageRecord) -> Self {
        StatusResponse {
            status_description: record.describe_status(),
            attempt_log: record.settled_attempt_log(),
            unique_id: record.unique_id,
            queue_id: record.queue_id,
            chat_id: record.chat_id.as_str().to_string(),
            message_id: record.provider_message_id,
            status: record.status.as_str(),
            attempts: record.attempts,
            timeline: record.timeline,
        }
    }
}

pub async fn status(
    State(app): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<StatusResponse>, ApiError> {
    let Path(id) = id.map_err(|_| ApiError::NotFound("no message with that id: it is not valid UTF-8".into()))?;
    find_message(&app, &caller, &id).await.map(|record| Json(record.into()))
}

/// A message by queue_id or unique_id, in the caller's org only: anyone else's is not found.
pub(super) async fn find_message(app: &AppState, caller: &Caller, id: &str) -> Result<MessageRecord, ApiError> {
    let found = if id.len() > MAX_ID_BYTES {
        // No id we hand out is this long, and DynamoDB rejects keys over 2 KB.
        None
    } else if is_queue_id(id) {
        app.store.get(&caller.org_id, id).await?
    } else {
        app.store.find_by_unique_id(&caller.org_id, id).await?
    };
    found.ok_or_else(|| {
        ApiError::NotFound(format!("no message with id {id:?}: give a unique_id or queue_id returned by /message/send"))
    })
}

/// JSON bodies only; a missing Content-Type is taken as JSON, as most clients intend.
pub(super) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let value = value.to_str().unwrap_or_default();
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::NotJson(value.to_string()))
    }
}

/// The body, refused with 413 past `limit` without reading it all.
pub(super) async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<axum::body::Bytes, ApiError> {
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
