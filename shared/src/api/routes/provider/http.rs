//! `POST /v1/provider/http/receipts`: an `http` gateway's `delivered` / `read` / `failed`, signed
//! with the phone's signing secret as Outbox signs towards the gateway.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;

use super::MAX_RECEIPTS_BODY_BYTES;
use crate::api::body::{read_body, require_json};
use crate::api::{ApiError, AppState};
use crate::receipts::inbound::Tally;

pub async fn receipts(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Result<Json<Tally>, ApiError> {
    require_json(&headers)?;
    let body = read_body(body, &headers, MAX_RECEIPTS_BODY_BYTES).await?;
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let now = app.clock.now().epoch_secs();
    let tally = app.inbound.gateway_receipts(
        header("x-outbox-org-id"),
        header("x-outbox-phone-id"),
        header("x-outbox-timestamp"),
        header("x-outbox-signature"),
        &body,
        now,
    );
    Ok(Json(tally.await?))
}
