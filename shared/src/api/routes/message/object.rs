//! `GET /v1/message/{id}`: the message object, in Periskope's shape.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::{find_message, message_id};
use crate::api::{ApiError, AppState, Caller};
use crate::domain::receipt::ack;

pub async fn message(
    State(app): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = message_id(id)?;
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
        "ack": ack(record.status),
        "status_description": record.describe_status(),
        "broadcast_id": record.broadcast_id,
        "scheduled_at": record.scheduled_at,
        "timestamp": record.timeline.queued_at,
        "timeline": record.timeline,
    })))
}
