//! Periskope's tracking surface: the message object, queue jobs, queue health, purge, and
//! broadcasts (create and track).

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use futures_util::{StreamExt, stream};
use serde::Serialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::keyed::{answer_once, creating_request};
use super::messages::{find_message, read_body, require_json};
use super::{AppState, Caller};
use crate::domain::broadcast::BroadcastRequest;
use crate::domain::clock::{parse_rfc3339, rfc3339};
use crate::domain::message::{MessageRecord, Status};
use crate::domain::validation::ValidationError;
use crate::ports::{BroadcastRecord, EnqueueState};

/// Store calls in flight at once for one request: a purge of 1,000 must not open 1,000 connections.
const CONCURRENT_CALLS: usize = 8;

async fn bounded<F: std::future::Future>(calls: Vec<F>) -> Vec<F::Output> {
    stream::iter(calls).buffer_unordered(CONCURRENT_CALLS).collect().await
}

fn bad(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
    ApiError::Validation(ValidationError::bad_request(code, Some(field), message))
}

/// Epoch milliseconds of an RFC 3339 timestamp, as Periskope's job timestamps are.
fn millis(at: Option<&String>) -> Option<i64> {
    at.and_then(|at| parse_rfc3339(at)).map(|at| at.timestamp_millis())
}

// ---------------------------------------------------------------- GET /v1/message/{id}

pub async fn message(
    State(app): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = id.map_err(|_| ApiError::NotFound("no message with that id: it is not valid UTF-8".into()))?;
    let record = find_message(&app, &caller, &id).await?;
    let media = record.media.as_ref().map(|m| {
        json!({"type": m.kind, "filename": m.filename, "mimetype": m.mimetype, "url": m.url, "size": m.size,
               "staged": m.s3_key.is_some()})
    });
    Ok(Json(json!({
        "unique_id": record.unique_id,
        "queue_id": record.queue_id,
        "message_id": record.provider_message_id,
        "org_id": record.org_id,
        "phone_id": record.phone_id,
        "chat_id": record.chat_id,
        "from_me": true,
        "type": record.message_type(),
        "body": record.text,
        "media": media,
        "poll": record.poll.as_ref().map(|p| json!({"pollName": p.name, "pollOptions": p.options,
            "options": {"allowMultipleAnswers": p.allow_multiple_answers, "pollId": p.poll_id}})),
        "reply_to": record.reply_to,
        "hide_url_preview": record.hide_url_preview,
        "status": record.status.as_str(),
        "status_description": record.describe_status(),
        "broadcast_id": record.broadcast_id,
        "scheduled_at": record.scheduled_at,
        "timestamp": record.timeline.queued_at,
        "timeline": record.timeline,
    })))
}

// ---------------------------------------------------------------- GET /v1/queue/jobs

/// A job as Periskope's queue API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    id: String,
    #[serde(rename = "message_id")]
    message_id: Option<String>,
    #[serde(rename = "unique_id")]
    unique_id: String,
    status: &'static str,
    attempts_made: u32,
    attempts_started: u32,
    added_timestamp: Option<i64>,
    processed_timestamp: Option<i64>,
    finished_timestamp: Option<i64>,
    delay_until: Option<i64>,
    failed_reason: Option<String>,
    data: JobData,
    stacktrace: Vec<String>,
}

#[derive(Serialize)]
struct JobData {
    body: Option<String>,
    chat_id: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// Our statuses in Periskope's job vocabulary.
pub fn job_status(status: Status) -> &'static str {
    match status {
        Status::Queued => "waiting",
        Status::Sending => "active",
        Status::Sent | Status::Delivered | Status::Read => "completed",
        Status::Failed | Status::Cancelled => "failed",
    }
}

impl From<&MessageRecord> for JobView {
    fn from(record: &MessageRecord) -> Self {
        let log = record.settled_attempt_log();
        let mut stacktrace: Vec<String> =
            log.iter().filter_map(|a| a.error.as_ref().map(|e| format!("attempt {}: {e}", a.attempt))).collect();
        if record.status == Status::Cancelled {
            stacktrace.push("cancelled: purged from the queue before it was sent".into());
        }
        let t = &record.timeline;
        let finished = t.sent_at.as_ref().or(t.failed_at.as_ref()).or(t.cancelled_at.as_ref());
        JobView {
            id: record.queue_id.clone(),
            message_id: record.provider_message_id.clone(),
            unique_id: record.unique_id.clone(),
            status: job_status(record.status),
            attempts_made: log.iter().filter(|a| a.outcome.is_some()).count() as u32,
            attempts_started: record.attempts,
            added_timestamp: millis(Some(&t.queued_at)),
            processed_timestamp: millis(log.last().map(|a| &a.started_at)),
            finished_timestamp: millis(finished),
            delay_until: millis(record.scheduled_at.as_ref()),
            failed_reason: matches!(record.status, Status::Failed | Status::Cancelled)
                .then(|| record.describe_status()),
            data: JobData {
                body: record.text.clone(),
                chat_id: record.chat_id.as_str().to_string(),
                kind: record.message_type(),
            },
            stacktrace,
        }
    }
}

pub async fn jobs(
    State(app): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<JobView>>, ApiError> {
    if let Some(queue_id) = query.get("queue_id").filter(|v| !v.is_empty()) {
        let record = find_message(&app, &caller, queue_id).await?;
        return Ok(Json(vec![JobView::from(&record)]));
    }
    if let Some(broadcast_id) = query.get("broadcast_id").filter(|v| !v.is_empty()) {
        find_broadcast(&app, &caller, broadcast_id).await?;
        let records = app.tracking.broadcast_messages(&caller.org_id, broadcast_id).await?;
        return Ok(Json(records.iter().map(JobView::from).collect()));
    }
    Err(bad("missing_field", "queue_id", "give ?queue_id=<queue_id> or ?broadcast_id=<broadcast_id>"))
}

// ---------------------------------------------------------------- GET /v1/queue

pub async fn health(State(app): State<AppState>, caller: Caller, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let phone = app.resolve_phone(&caller, &headers).await?;
    let since = rfc3339(Utc::now() - Duration::hours(24));
    let (live, finished, dead_letter) = tokio::try_join!(
        app.tracking.live_messages(&caller.org_id, &phone.phone_id),
        app.tracking.finished_since(&caller.org_id, &phone.phone_id, &since),
        app.tracking.dead_lettered_count(&caller.org_id, &phone.phone_id),
    )?;
    let count = |statuses: &mut dyn Iterator<Item = Status>, wanted: &str| {
        statuses.filter(|s| job_status(*s) == wanted).count()
    };
    Ok(Json(json!({
        "pending": count(&mut live.iter().map(|m| m.status), "waiting"),
        "active": count(&mut live.iter().map(|m| m.status), "active"),
        "completed": count(&mut finished.iter().copied(), "completed"),
        "failed": count(&mut finished.iter().copied(), "failed"),
        "dead_letter": dead_letter,
        // Consumers are event-driven (Lambda, or the local event source): always taking jobs.
        "is_running": true,
        "phone_id": phone.phone_id,
    })))
}

// ---------------------------------------------------------------- DELETE /v1/queue/purge

pub async fn purge(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body, &headers, app.max_body_bytes).await?;
    let request: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        require_json(&headers)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::Validation(ValidationError::bad_request(
                "invalid_json",
                None,
                format!("the body is not valid JSON: {e}"),
            ))
        })?
    };
    let Value::Object(request) = request else {
        return Err(bad(
            "invalid_type",
            "queue_id",
            "the body is {\"queue_id\": ...}, {\"broadcast_id\": ...} or empty",
        ));
    };
    let queue_ids: Vec<String> = match (request.get("queue_id"), request.get("broadcast_id")) {
        (Some(Value::String(id)), None) => vec![id.clone()],
        (Some(Value::Array(ids)), None) => ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                id.as_str()
                    .map(String::from)
                    .ok_or_else(|| bad("invalid_type", &format!("queue_id[{i}]"), "queue ids are strings"))
            })
            .collect::<Result<_, _>>()?,
        (Some(_), None) => return Err(bad("invalid_type", "queue_id", "queue_id is a string or an array of strings")),
        (None, Some(Value::String(broadcast_id))) => {
            find_broadcast(&app, &caller, broadcast_id).await?;
            let records = app.tracking.broadcast_messages(&caller.org_id, broadcast_id).await?;
            records.into_iter().filter(|m| m.status == Status::Queued).map(|m| m.queue_id).collect()
        }
        (None, Some(_)) => return Err(bad("invalid_type", "broadcast_id", "broadcast_id is a string")),
        (None, None) => {
            let phone = app.resolve_phone(&caller, &headers).await?;
            let live = app.tracking.live_messages(&caller.org_id, &phone.phone_id).await?;
            live.into_iter().filter(|m| m.status == Status::Queued).map(|m| m.queue_id).collect()
        }
        (Some(_), Some(_)) => return Err(bad("invalid_body", "queue_id", "give queue_id or broadcast_id, not both")),
    };
    let queue_ids = if request.contains_key("queue_id") {
        // All or nothing: an id that is not the caller's is not found, and nothing is purged.
        // Either id form is accepted; the record's queue_id is what the store is keyed by.
        let lookups: Vec<_> = queue_ids.iter().map(|id| find_message(&app, &caller, id)).collect();
        let found: Vec<Result<MessageRecord, ApiError>> = bounded(lookups).await;
        found.into_iter().map(|r| r.map(|m| m.queue_id)).collect::<Result<Vec<_>, _>>()?
    } else {
        queue_ids
    };
    let now = rfc3339(Utc::now());
    let cancels: Vec<_> = queue_ids.iter().map(|id| app.tracking.cancel(&caller.org_id, id, &now)).collect();
    for result in bounded(cancels).await {
        // `false`: already sending or finished, which a purge leaves alone.
        result?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- broadcasts

pub async fn create_broadcast(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (idempotency_key, bytes) = creating_request(&app, &headers, body).await?;
    let broadcast = BroadcastRequest::from_json(&bytes)?.validate()?;
    let phone = app.resolve_phone(&caller, &headers).await?;
    let create = || async {
        let broadcast_id = app.broadcaster.broadcast(&caller.org_id, &phone, &caller.key_id, broadcast).await?;
        Ok(json!({"broadcast_id": broadcast_id}).to_string())
    };
    answer_once(&app, &caller, idempotency_key, "POST /v1/message/broadcast", &phone.phone_id, &bytes, create).await
}

async fn find_broadcast(app: &AppState, caller: &Caller, broadcast_id: &str) -> Result<BroadcastRecord, ApiError> {
    // Longer than any id we hand out, and over DynamoDB's key size.
    if broadcast_id.len() > 128 {
        return Err(ApiError::NotFound(format!("no broadcast with id {broadcast_id:?}")));
    }
    app.tracking
        .get_broadcast(&caller.org_id, broadcast_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no broadcast with id {broadcast_id:?}")))
}

pub async fn broadcast_status(
    State(app): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let broadcast_id = query
        .get("broadcast_id")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad("missing_field", "broadcast_id", "give ?broadcast_id=<broadcast_id>"))?;
    let broadcast = find_broadcast(&app, &caller, broadcast_id).await?;
    let messages = app.tracking.broadcast_messages(&caller.org_id, broadcast_id).await?;
    let counts = BroadcastCounts::of(&broadcast, &messages);
    Ok(Json(json!({
        "broadcast_id": broadcast.broadcast_id,
        "org_id": broadcast.org_id,
        "phone_id": broadcast.phone_id,
        "message_payload": {"body": broadcast.body, "message_type": broadcast.message_type, "performed_by": broadcast.performed_by},
        "created_at": broadcast.created_at,
        "scheduled_at": broadcast.scheduled_at,
        "delay": broadcast.delay_ms as f64 / 1000.0,
        "total_chats": broadcast.total_chats,
        "sent_chats": counts.sent,
        "failed_chats": counts.failed + counts.cancelled,
        "pending_chats": counts.pending,
        "broadcast_status": counts.status(&broadcast),
    })))
}

/// A broadcast's messages by outcome; chats that were never recorded count as failed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BroadcastCounts {
    pub sent: u32,
    pub failed: u32,
    pub cancelled: u32,
    pub pending: u32,
}

impl BroadcastCounts {
    pub fn of(broadcast: &BroadcastRecord, messages: &[MessageRecord]) -> BroadcastCounts {
        let mut counts = BroadcastCounts::default();
        for message in messages {
            match message.status {
                Status::Queued | Status::Sending => counts.pending += 1,
                Status::Sent | Status::Delivered | Status::Read => counts.sent += 1,
                Status::Failed => counts.failed += 1,
                Status::Cancelled => counts.cancelled += 1,
            }
        }
        if broadcast.state != EnqueueState::Queuing {
            counts.failed += broadcast.total_chats.saturating_sub(messages.len() as u32);
        }
        counts
    }

    pub fn status(&self, broadcast: &BroadcastRecord) -> &'static str {
        let started = self.sent + self.failed > 0;
        let not_yet_due = broadcast.scheduled_at.as_deref().and_then(parse_rfc3339).is_some_and(|at| at > Utc::now());
        if broadcast.state == EnqueueState::Queuing || (self.pending > 0 && started) {
            "in_progress"
        } else if self.pending > 0 {
            if not_yet_due { "scheduled" } else { "in_progress" }
        } else if self.cancelled > 0 && self.sent + self.failed == 0 {
            "cancelled"
        } else if self.failed + self.cancelled == 0 {
            "completed"
        } else if self.sent == 0 {
            "failed"
        } else {
            "partially_failed"
        }
    }
}
