//! `DELETE /v1/queue/purge`: cancels queued messages by queue_id (one or a list), by broadcast_id,
//! or all of the phone's; the body says which, `send::purge` does it.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{bad, find_broadcast};
use crate::api::body::{read_body, require_json};
use crate::api::routes::message::find_message;
use crate::api::{ApiError, AppState, Caller};
use crate::domain::ids::QueueId;
use crate::domain::limits::MAX_PURGE_IDS;
use crate::domain::validation::ValidationError;
use crate::send::PurgeSelection;
use crate::send::purge::bounded_all;

pub async fn purge(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body, &headers, app.max_body_bytes).await?;
    let request: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        require_json(&headers)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::Validation(ValidationError::bad_request(
                "invalid_json",
                None,
                format!("the body is not valid JSON: {e}"),
            ))
        })?
    };
    let Value::Object(request) = request else {
        return Err(bad(
            "invalid_type",
            "queue_id",
            "the body is {\"queue_id\": ...}, {\"broadcast_id\": ...} or empty",
        ));
    };
    let selection = match (request.get("queue_id"), request.get("broadcast_id")) {
        (Some(Value::String(id)), None) => PurgeSelection::Messages(own_messages(&app, &caller, &[id.as_str()]).await?),
        (Some(Value::Array(ids)), None) => {
            if ids.is_empty() || ids.len() > MAX_PURGE_IDS {
                let message = format!("queue_id lists 1 to {MAX_PURGE_IDS} ids; it lists {}", ids.len());
                return Err(bad("invalid_queue_ids", "queue_id", message));
            }
            let ids = ids
                .iter()
                .enumerate()
                .map(|(i, id)| match id.as_str() {
                    Some(id) if !id.trim().is_empty() => Ok(id),
                    Some(_) => Err(bad(
                        "invalid_queue_ids",
                        &format!("queue_id[{i}]"),
                        format!("queue_id[{i}] is empty; list the queue_id or unique_id of each message to purge"),
                    )),
                    None => Err(bad("invalid_type", &format!("queue_id[{i}]"), "queue ids are strings")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            PurgeSelection::Messages(own_messages(&app, &caller, &ids).await?)
        }
        (Some(_), None) => return Err(bad("invalid_type", "queue_id", "queue_id is a string or an array of strings")),
        (None, Some(Value::String(broadcast_id))) => {
            PurgeSelection::Broadcast(Box::new(find_broadcast(&app, &caller, broadcast_id).await?))
        }
        (None, Some(_)) => return Err(bad("invalid_type", "broadcast_id", "broadcast_id is a string")),
        (None, None) => PurgeSelection::Phone(app.resolve_phone(&caller, &headers).await?.phone_id),
        (Some(_), Some(_)) => return Err(bad("invalid_body", "queue_id", "give queue_id or broadcast_id, not both")),
    };
    app.purger.purge(&caller.org_id, selection).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The queue_ids of the caller's messages named by `ids`, all or nothing: an id that is not the
/// caller's is not found, and nothing is purged. Either id form is accepted. Each id is looked up
/// once however often it is listed, and the first one not found ends the lookups, so a list of
/// 1,000 ids that are not the caller's costs a few lookups, not 1,000.
async fn own_messages(app: &AppState, caller: &Caller, ids: &[&str]) -> Result<Vec<QueueId>, ApiError> {
    let distinct: BTreeSet<&str> = ids.iter().copied().collect();
    let lookups: Vec<_> = distinct.into_iter().map(|id| find_message(app, caller, id)).collect();
    Ok(bounded_all(lookups).await?.into_iter().map(|message| message.queue_id).collect())
}
