//! `/v1/webhooks/{id}`: one of the org's webhooks. `GET` shows it (never its secret), `PATCH`
//! changes what the body names (`url`, checked like at creation, `events`, `description`; `null`
//! clears the description), `DELETE` removes it and its secret.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use tracing::info;

use super::{WebhookView, find_webhook, not_found, vet_url, webhook_id};
use crate::api::body::json_body;
use crate::api::{ApiError, AppState, Caller};
use crate::domain::webhook::WebhookPatch;
use crate::domain::wire::decode_json_like;

const PATCH_EXAMPLE: &str = r#"{"events": ["message.delivered", "message.read"]}"#;

pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let record = find_webhook(&app, &caller, &webhook_id(id)?).await?;
    Ok(Json(serde_json::to_value(WebhookView::of(&record)).unwrap_or_default()))
}

pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = webhook_id(id)?;
    let bytes = json_body(&app, &headers, body).await?;
    let patch = WebhookPatch::parse(decode_json_like(&bytes, PATCH_EXAMPLE)?)?;
    let record = find_webhook(&app, &caller, &id).await?;
    if let Some(url) = &patch.url {
        vet_url(&app, url).await?;
    }
    let patched = record.patched(patch, app.clock.now());
    // Deleted since it was read: not brought back.
    if !app.webhooks.update_webhook(&patched).await? {
        return Err(not_found(&id));
    }
    info!(webhook_id = %patched.webhook_id, "webhook changed");
    Ok(Json(serde_json::to_value(WebhookView::of(&patched)).unwrap_or_default()))
}

/// The secret first, then the record: if deleting the record fails, the webhook is still listed
/// and the client's retry of the DELETE finishes the job; the other order could leave a secret
/// that nothing refers to.
pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = webhook_id(id)?;
    let record = find_webhook(&app, &caller, &id).await?;
    app.secrets.delete(&record.secret_ref).await?;
    if !app.webhooks.delete_webhook(&caller.org_id, &record.webhook_id).await? {
        return Err(not_found(&id));
    }
    info!(webhook_id = %record.webhook_id, "webhook deleted");
    Ok(StatusCode::NO_CONTENT)
}
