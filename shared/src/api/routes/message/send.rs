//! `POST /v1/message/send`: Periskope's send, answered `queued` at once.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;

use crate::api::body::creating_request;
use crate::api::idempotency::{WorkAnswer, answer_once_parsed, request_json};
use crate::api::{ApiError, AppState, Caller};
use crate::domain::ids::{QueueId, UniqueId};
use crate::domain::send::parse_send_body;
use crate::send::Accepted;

pub async fn send(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (idempotency_key, bytes) = creating_request(&app, &headers, body).await?;
    // Read for the fingerprint before the media is decoded over the body.
    let request = idempotency_key.map(|key| (key, request_json(&bytes)));
    let message = parse_send_body(Vec::from(bytes), app.clock.now())?;
    let phone = app.resolve_phone(&caller, &headers).await?;
    let enqueue = || async {
        let accepted = app.enqueuer.enqueue_message(&caller.org_id, &phone, message).await?;
        let keep_until = Some(accepted.expires_at);
        Ok(WorkAnswer { json: serde_json::to_string(&SendResponse::from(accepted)).unwrap_or_default(), keep_until })
    };
    let route = "POST /v1/message/send";
    answer_once_parsed(&app, &caller.org_id, request, route, phone.phone_id.as_str(), enqueue).await
}

#[derive(Serialize)]
pub struct SendResponse {
    status: &'static str,
    queue_id: QueueId,
    queue_position: u64,
    unique_id: UniqueId,
    track_by: TrackBy,
    hint: String,
}

#[derive(Serialize)]
struct TrackBy {
    unique_id: String,
    queue_id: String,
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
