//! `GET /v1/queue`: a phone's pending, active, completed (24 hours), failed and dead-lettered counts.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::jobs::job_status;
use crate::api::{ApiError, AppState, Caller};
use crate::domain::message::Status;

/// How far back `completed` and `failed` count.
const FINISHED_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

pub async fn health(State(app): State<AppState>, caller: Caller, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let phone = app.resolve_phone(&caller, &headers).await?;
    let since = app.clock.now().minus(FINISHED_WINDOW);
    let (live, finished, dead_letter) = tokio::try_join!(
        app.tracking.live_messages(&caller.org_id, &phone.phone_id),
        app.tracking.finished_since(&caller.org_id, &phone.phone_id, since),
        app.tracking.dead_lettered_count(&caller.org_id, &phone.phone_id),
    )?;
    let count = |statuses: &mut dyn Iterator<Item = Status>, wanted: &str| {
        statuses.filter(|s| job_status(*s) == wanted).count()
    };
    Ok(Json(json!({
        "pending": count(&mut live.iter().map(|m| m.status), "waiting"),
        "active": count(&mut live.iter().map(|m| m.status), "active"),
        "completed": count(&mut finished.iter().copied(), "completed"),
        "failed": count(&mut finished.iter().copied(), "failed"),
        "dead_letter": dead_letter,
        // Consumers are event-driven (Lambda, or the local event source): always taking jobs.
        "is_running": true,
        "phone_id": phone.phone_id,
    })))
}
