//! `/v1/queue/…`: the tracking surface in Periskope's queue vocabulary: queue health, jobs,
//! purge and broadcast status.

pub mod broadcast;
pub mod health;
pub mod jobs;
pub mod purge;

use crate::api::{ApiError, AppState, Caller};
use crate::domain::ids::{BroadcastId, is_plausible_id};
use crate::domain::validation::ValidationError;
use crate::ports::BroadcastRecord;

fn bad(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
    ApiError::Validation(ValidationError::bad_request(code, Some(field), message))
}

/// The caller's broadcast with this id; anyone else's is not found.
async fn find_broadcast(app: &AppState, caller: &Caller, broadcast_id: &str) -> Result<BroadcastRecord, ApiError> {
    let not_found = || ApiError::NotFound(format!("no broadcast with id {broadcast_id:?}"));
    if !is_plausible_id(broadcast_id) {
        return Err(not_found());
    }
    app.tracking.get_broadcast(&caller.org_id, &BroadcastId::from(broadcast_id)).await?.ok_or_else(not_found)
}
