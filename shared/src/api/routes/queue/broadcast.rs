//! `GET /v1/queue/broadcast?broadcast_id=`: a broadcast with its chats counted by outcome.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};

use super::{bad, find_broadcast};
use crate::api::{ApiError, AppState, Caller};
use crate::domain::message::{MessageRecord, Status};
use crate::domain::time::Timestamp;
use crate::ports::{BroadcastRecord, EnqueueState};

pub async fn status(
    State(app): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let broadcast_id = query
        .get("broadcast_id")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad("missing_field", "broadcast_id", "give ?broadcast_id=<broadcast_id>"))?;
    let mut broadcast = find_broadcast(&app, &caller, broadcast_id).await?;
    broadcast.state = broadcast.settled_state(app.clock.now(), app.api_timeout);
    let messages = app.tracking.broadcast_messages(&broadcast).await?;
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
        "broadcast_status": counts.status(&broadcast, app.clock.now()),
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

    pub fn status(&self, broadcast: &BroadcastRecord, now: Timestamp) -> &'static str {
        let started = self.sent + self.failed > 0;
        let not_yet_due = broadcast.scheduled_at.is_some_and(|at| at > now);
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
