//! `POST /v1/message/broadcast`: one message to many chats, validated all or nothing; answers its id.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

use crate::api::body::creating_request;
use crate::api::idempotency::{WorkAnswer, answer_once_parsed, request_json};
use crate::api::{ApiError, AppState, Caller};
use crate::domain::wire::BroadcastRequest;

pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (idempotency_key, bytes) = creating_request(&app, &headers, body).await?;
    // Read for the fingerprint before the media is decoded over the body.
    let request = idempotency_key.map(|key| (key, request_json(&bytes)));
    let broadcast = BroadcastRequest::from_body(Vec::from(bytes))?.validate(app.clock.now())?;
    let phone = app.resolve_phone(&caller, &headers).await?;
    let create = || async {
        let accepted = app.broadcaster.broadcast(&caller.org_id, &phone, &caller.key_id, broadcast).await?;
        let json = json!({"broadcast_id": accepted.broadcast_id}).to_string();
        Ok(WorkAnswer { json, keep_until: Some(accepted.expires_at) })
    };
    let route = "POST /v1/message/broadcast";
    answer_once_parsed(&app, &caller.org_id, request, route, phone.phone_id.as_str(), create).await
}
