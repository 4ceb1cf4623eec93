//! `GET /v1/queue`: a phone's pending, active, completed, failed and dead-lettered counts, all
//! from the phone's one counter item, which the status stream keeps (seconds behind the records).
//! One GetItem of at most a few hundred bytes whatever the phone's traffic, and no tenant's request
//! reads another's records or the `DLQ` partition every org shares. `completed` and `failed` count
//! whole hours: the current one and the 24 before it.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::api::{ApiError, AppState, Caller};

pub async fn health(State(app): State<AppState>, caller: Caller, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let phone = app.resolve_phone(&caller, &headers).await?;
    let counts = app.counters.phone_counts(&caller.org_id, &phone.phone_id, app.clock.now()).await?;
    Ok(Json(json!({
        "pending": counts.pending,
        "active": counts.active,
        "completed": counts.completed,
        "failed": counts.failed,
        "dead_letter": counts.dead_letter,
        // Consumers are event-driven (Lambda, or the local event source): always taking jobs.
        "is_running": true,
        "phone_id": phone.phone_id,
    })))
}
