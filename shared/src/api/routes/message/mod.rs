//! `/v1/message/…`: sending (`send`, `broadcast`) and looking a message up (`status`, `object`).

pub mod broadcast;
pub mod object;
pub mod send;
pub mod status;

use tracing::Span;

use crate::api::{ApiError, AppState, Caller};
use crate::domain::ids::{QueueId, UniqueId, is_plausible_id};
use crate::domain::message::MessageRecord;

/// A message by queue_id or unique_id, in the caller's org only: anyone else's is not found.
/// The request's span carries its queue_id from then on.
pub async fn find_message(app: &AppState, caller: &Caller, id: &str) -> Result<MessageRecord, ApiError> {
    let found = if !is_plausible_id(id) {
        None
    } else if let Some(queue_id) = QueueId::parse(id) {
        app.store.get(&caller.org_id, &queue_id).await?
    } else if let Some(unique_id) = UniqueId::parse(id) {
        // A unique_id leads to its queue_id; a record there with another unique_id is not it.
        let record = app.store.get(&caller.org_id, &QueueId::of(&unique_id)).await?;
        record.filter(|r| r.unique_id == unique_id)
    } else {
        None
    };
    let record = found.ok_or_else(|| {
        ApiError::NotFound(format!("no message with id {id:?}: give a unique_id or queue_id returned by /message/send"))
    })?;
    Span::current().record("queue_id", tracing::field::display(&record.queue_id));
    Ok(record)
}

/// The `{id}` of a message path; one that is not UTF-8 names no message.
pub fn message_id(
    id: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<String, ApiError> {
    id.map(|axum::extract::Path(id)| id)
        .map_err(|_| ApiError::NotFound("no message with that id: it is not valid UTF-8".into()))
}
