//! `GET /v1/provider/whatsapp/webhook` (Meta's verify-token handshake) and `POST` (Meta's signed
//! status batches; `messages[]` are acknowledged and ignored).

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;

use super::MAX_RECEIPTS_BODY_BYTES;
use crate::api::body::read_body;
use crate::api::{ApiError, AppState};
use crate::receipts::inbound::Tally;

#[derive(Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Answers `hub.challenge` as plain text when the token is a whatsapp-cloud phone's; 403 otherwise.
pub async fn verify(
    State(app): State<AppState>,
    query: Result<Query<Handshake>, QueryRejection>,
) -> Result<String, ApiError> {
    let Ok(Query(hub)) = query else {
        return Err(ApiError::Forbidden("hub.mode, hub.verify_token and hub.challenge are required".into()));
    };
    let answer =
        app.inbound.verify_subscription(hub.mode.as_deref(), hub.verify_token.as_deref(), hub.challenge.as_deref());
    Ok(answer.await?)
}

/// Applies a signed batch; 200 also for statuses of messages Outbox does not know.
pub async fn receive(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Result<Json<Tally>, ApiError> {
    let body = read_body(body, &headers, MAX_RECEIPTS_BODY_BYTES).await?;
    let signature = headers.get("x-hub-signature-256").and_then(|value| value.to_str().ok());
    Ok(Json(app.inbound.meta_webhook(signature, &body).await?))
}
