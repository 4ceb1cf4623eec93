//! `GET /v1/message/{id}/status`: where a message is, with its attempts and timeline.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use serde::Serialize;

use super::{find_message, message_id};
use crate::api::{ApiError, AppState, Caller};
use crate::domain::ids::{QueueId, UniqueId};
use crate::domain::message::{AttemptLogEntry, MessageRecord, Timeline};

#[derive(Serialize)]
pub struct StatusResponse {
    unique_id: UniqueId,
    queue_id: QueueId,
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
    let id = message_id(id)?;
    find_message(&app, &caller, &id).await.map(|record| Json(record.into()))
}
