//! `POST /v1/webhooks/{id}/rotate-secret`: a new signing secret, shown once. The old one keeps
//! signing beside it (a second `v1=` in `Outbox-Signature`) for `ROTATION_OVERLAP`, a day, so a
//! receiver can switch over without losing events; `previous_secret_expires_at` says until when.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use tracing::{info, warn};

use super::{find_webhook, secret_json, shown, webhook_id, with_secret};
use crate::api::{ApiError, AppState, Caller};
use crate::domain::webhook::secret_name;
use crate::domain::webhook::{WebhookRecord, WebhookSecrets, generate_secret};
use crate::ports::SecretError;

pub async fn rotate(
    State(app): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let record = find_webhook(&app, &caller, &webhook_id(id)?).await?;
    let now = app.clock.now();
    let fresh = generate_secret();
    let secrets = match app.secrets.get(&record.secret_ref).await {
        Ok(stored) => match serde_json::from_str::<WebhookSecrets>(&stored) {
            Ok(current) => current.rotated(fresh.clone(), now),
            Err(_) => {
                warn!(webhook_id = %record.webhook_id, "the webhook's stored secret is unreadable; replaced");
                WebhookSecrets::new(fresh.clone())
            }
        },
        // Lost (removed by hand): the rotation gives the webhook a secret again.
        Err(SecretError::NotFound(_)) => {
            warn!(webhook_id = %record.webhook_id, "the webhook had no secret; a new one is stored");
            WebhookSecrets::new(fresh.clone())
        }
        Err(err) => return Err(err.into()),
    };
    let reference = app.secrets.put(&secret_name(&record.org_id, &record.webhook_id), &secret_json(&secrets)).await?;
    // A secret created anew (it was lost) has a new reference: the record follows it.
    let record = if reference != record.secret_ref {
        let moved = WebhookRecord { secret_ref: reference, updated_at: now, ..record };
        app.webhooks.update_webhook(&moved).await?;
        moved
    } else {
        record
    };
    info!(webhook_id = %record.webhook_id, "webhook secret rotated");
    let extra = json!({ "secret": fresh, "previous_secret_expires_at": secrets.previous_until });
    Ok(with_secret(StatusCode::OK, shown(&record, extra)))
}
