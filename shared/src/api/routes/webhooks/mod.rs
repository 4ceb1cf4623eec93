//! `/v1/webhooks`: an org's webhook subscriptions. `POST` creates one and shows its signing secret
//! (only then), `GET` lists them; `webhook` reads, changes and deletes one, `rotate_secret` gives
//! it a new secret while the old one keeps signing for a day. Another org's webhook is a 404
//! `webhook_not_found`. The secrets live in the secret store; a record keeps only their reference.

pub mod rotate_secret;
pub mod webhook;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::api::body::json_body;
use crate::api::{ApiError, AppState, Caller};
use crate::domain::ids::WebhookId;
use crate::domain::time::Timestamp;
use crate::domain::validation::ValidationError;
use crate::domain::webhook::{EventType, NewWebhook, WebhookRecord, WebhookSecrets, generate_secret, secret_name};
use crate::domain::wire::decode_json_like;
use crate::net::egress::EgressError;
use crate::telemetry::chain;

/// An org may have this many webhooks: each event is POSTed once per subscribed webhook, so the
/// limit bounds the fan-out of one status change.
pub const MAX_WEBHOOKS_PER_ORG: usize = 10;

const CREATE_EXAMPLE: &str =
    r#"{"url": "https://example.com/outbox-events", "events": ["message.sent", "message.failed"]}"#;

/// The secret store's JSON for `secrets`.
fn secret_json(secrets: &WebhookSecrets) -> String {
    // Strings and a timestamp always serialise.
    serde_json::to_string(secrets).unwrap_or_default()
}

/// A webhook as the API shows it; `secret` only right after it was made.
#[derive(Serialize)]
struct WebhookView<'a> {
    id: &'a WebhookId,
    url: &'a str,
    events: Vec<&'static str>,
    description: Option<&'a str>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl<'a> WebhookView<'a> {
    fn of(record: &'a WebhookRecord) -> WebhookView<'a> {
        WebhookView {
            id: &record.webhook_id,
            url: &record.url,
            events: record.events.iter().map(|event| EventType::as_str(*event)).collect(),
            description: record.description.as_deref(),
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

/// The webhook's JSON with `extra` fields (the secret) added.
fn shown(record: &WebhookRecord, extra: Value) -> Value {
    let mut shown = serde_json::to_value(WebhookView::of(record)).unwrap_or_default();
    if let (Some(shown), Value::Object(extra)) = (shown.as_object_mut(), extra) {
        shown.extend(extra);
    }
    shown
}

/// An answer that carries a secret: no cache may keep it.
fn with_secret(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn bad(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
    ApiError::Validation(ValidationError::bad_request(code, Some(field), message))
}

fn too_many() -> ApiError {
    ApiError::Validation(ValidationError::bad_request(
        "too_many_webhooks",
        None,
        format!(
            "your org has {MAX_WEBHOOKS_PER_ORG} webhooks, the most it may have; delete one \
             (DELETE /v1/webhooks/{{id}}) or change one's url and events (PATCH) instead"
        ),
    ))
}

fn not_found(id: &str) -> ApiError {
    // An id longer than any we hand out is not echoed back.
    let named = if id.len() <= 64 { format!(" {id:?}") } else { String::new() };
    ApiError::Missing {
        code: "webhook_not_found",
        message: format!("no webhook{named} in your org; GET /v1/webhooks lists your webhooks and their ids"),
    }
}

/// The `{id}` of a webhook path; one that is not UTF-8 names no webhook.
fn webhook_id(id: Result<axum::extract::Path<String>, PathRejection>) -> Result<String, ApiError> {
    id.map(|axum::extract::Path(id)| id).map_err(|_| not_found(""))
}

/// The caller's webhook with this id; another org's, or an id of another shape than the ones
/// `WebhookId::generate` makes (`wh_` and 32 hex digits), is not found without asking the store.
async fn find_webhook(app: &AppState, caller: &Caller, id: &str) -> Result<WebhookRecord, ApiError> {
    let plausible = id
        .strip_prefix("wh_")
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    if !plausible {
        return Err(not_found(id));
    }
    app.webhooks.get_webhook(&caller.org_id, &WebhookId::from(id)).await?.ok_or_else(|| not_found(id))
}

/// The egress rule on a webhook's URL: https and public addresses only (the local stack also
/// takes http and private ones). A name is resolved now, within the resolver's timeout; one that
/// does not resolve is refused too, as nothing could be delivered to it.
async fn vet_url(app: &AppState, url: &str) -> Result<(), ApiError> {
    let refused = match app.egress.vet(url).await {
        Ok(_) => return Ok(()),
        Err(refused) => refused,
    };
    let (code, hint) = match refused {
        EgressError::Unresolvable { .. } => ("url_unresolvable", "use a host name that resolves publicly"),
        _ => ("url_not_allowed", "use an https URL of a server reachable from the internet"),
    };
    Err(bad(code, "url", format!("url cannot receive webhooks: {}; {hint}", chain(&refused))))
}

/// `GET /v1/webhooks`: the org's webhooks, oldest first, without their secrets.
pub async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let webhooks = app.webhooks.list_webhooks(&caller.org_id).await?;
    let shown: Vec<WebhookView> = webhooks.iter().map(WebhookView::of).collect();
    Ok(Json(json!({ "webhooks": shown })))
}

/// `POST /v1/webhooks`: `{url, events, description?}`, answered 201 with the webhook and its
/// `secret`. The secret is stored first and the record second, so a failed record write leaves
/// no webhook without a secret (the secret is deleted again); a record never points at nothing.
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = json_body(&app, &headers, body).await?;
    let new = NewWebhook::parse(decode_json_like(&bytes, CREATE_EXAMPLE)?)?;
    let org = &caller.org_id;
    // The cheap refusal: nothing is written for an org that is at its limit.
    if app.webhooks.list_webhooks(org).await?.len() >= MAX_WEBHOOKS_PER_ORG {
        return Err(too_many());
    }
    vet_url(&app, &new.url).await?;

    let webhook_id = WebhookId::generate();
    let secret = generate_secret();
    let secret_ref =
        app.secrets.put(&secret_name(org, &webhook_id), &secret_json(&WebhookSecrets::new(secret.clone()))).await?;
    let now = app.clock.now();
    let record = WebhookRecord {
        org_id: org.clone(),
        webhook_id,
        url: new.url,
        events: new.events,
        description: new.description,
        secret_ref,
        created_at: now,
        updated_at: now,
    };
    match app.webhooks.create_webhook(&record).await {
        Ok(true) => {}
        // A fresh random id already taken: the put above replaced that webhook's secret, so it is
        // not deleted; never seen with 122 random bits, and the client may retry.
        Ok(false) => {
            warn!(webhook_id = %record.webhook_id, "a generated webhook id was already taken");
            return Err(ApiError::Unavailable("could not store the webhook".into()));
        }
        Err(err) => {
            discard(&app, &record).await;
            return Err(err.into());
        }
    }
    // Concurrent creates can each pass the check above. Listed again after the write (a consistent
    // read), the later of two racing writes always sees both: whoever sees the org over its limit
    // takes its webhook back, so the limit holds once every request has answered.
    match app.webhooks.list_webhooks(org).await {
        Ok(listed) if listed.len() <= MAX_WEBHOOKS_PER_ORG => {}
        Ok(_) => {
            discard(&app, &record).await;
            return Err(too_many());
        }
        Err(err) => {
            discard(&app, &record).await;
            return Err(err.into());
        }
    }
    info!(webhook_id = %record.webhook_id, "webhook created");
    let mut response = with_secret(StatusCode::CREATED, shown(&record, json!({ "secret": secret })));
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/webhooks/{}", record.webhook_id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Takes back a webhook that was not (or may not have been) created: its record, then its secret.
/// What cannot be deleted is logged by reference (never the secret) for an operator to remove.
async fn discard(app: &AppState, record: &WebhookRecord) {
    if let Err(err) = app.webhooks.delete_webhook(&record.org_id, &record.webhook_id).await {
        warn!(webhook_id = %record.webhook_id, error = %chain(&err), "could not delete a webhook record that was not created");
        // Its secret stays, so that the record (if it was written) does not point at nothing.
        return;
    }
    if let Err(err) = app.secrets.delete(&record.secret_ref).await {
        warn!(secret = %record.secret_ref, error = %chain(&err), "could not delete the secret of a webhook that was not created");
    }
}
