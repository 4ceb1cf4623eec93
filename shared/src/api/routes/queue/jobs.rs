//! `GET /v1/queue/jobs?queue_id=` or `?broadcast_id=`: messages as Periskope's queue jobs.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;

use super::{bad, find_broadcast};
use crate::api::routes::message::find_message;
use crate::api::{ApiError, AppState, Caller};
use crate::domain::ids::{QueueId, UniqueId};
use crate::domain::message::{MessageRecord, PURGED, Status};

/// A job as Periskope's queue API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    id: QueueId,
    #[serde(rename = "message_id")]
    message_id: Option<String>,
    #[serde(rename = "unique_id")]
    unique_id: UniqueId,
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
            stacktrace.push(format!("cancelled: {PURGED}"));
        }
        let t = &record.timeline;
        JobView {
            id: record.queue_id.clone(),
            message_id: record.provider_message_id.clone(),
            unique_id: record.unique_id.clone(),
            status: job_status(record.status),
            // Entries the bounded log dropped had all finished.
            attempts_made: log.iter().filter(|a| a.outcome.is_some()).count() as u32 + record.attempt_log_dropped,
            attempts_started: record.attempts,
            added_timestamp: Some(t.queued_at.epoch_millis()),
            processed_timestamp: log.last().map(|a| a.started_at.epoch_millis()),
            finished_timestamp: t.finished_at().map(|at| at.epoch_millis()),
            delay_until: record.scheduled_at.map(|at| at.epoch_millis()),
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
        let broadcast = find_broadcast(&app, &caller, broadcast_id).await?;
        let records = app.tracking.broadcast_messages(&broadcast).await?;
        return Ok(Json(records.iter().map(JobView::from).collect()));
    }
    Err(bad("missing_field", "queue_id", "give ?queue_id=<queue_id> or ?broadcast_id=<broadcast_id>"))
}
