//! The status-stream flow: the table's DynamoDB stream (new and old images), consumed in Lambda
//! tumbling windows, is the one place that reacts to a message's change of status (see
//! `transitions`). Within a window each invocation folds its records into the window's state,
//! which Lambda carries to the next; the window's last invocation adds the state's counter
//! changes (`Counters::add`), once per counter item and shard window, so a retried invocation
//! counts once. Records of other items (counters, keys, ...) and deletions by TTL are ignored;
//! the template's filter keeps most of them away already. With sandbox receipts on, it also
//! reports the sandbox's messages `delivered` and then `read` (`sandbox`). With an events queue,
//! it queues the webhook events of each status change (`events`).

mod error;
pub mod events;
mod records;
pub mod sandbox;
pub mod transitions;

use std::collections::HashMap;
use std::sync::Arc;

use aws_lambda_events::event::dynamodb::{EventRecord, TimeWindowEvent, TimeWindowEventResponse};
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::domain::counters::{Changes, StreamSpan};
use crate::domain::time::Timestamp;
use crate::ports::{Clock, Counters};
use crate::receipts::Receipts;
pub use error::StreamError;
use events::EventPublisher;
use records::{Keys, is_ttl_deletion};
use transitions::{MessageView, add_change};

/// What the status-stream consumer needs, built once per process.
#[derive(Clone)]
pub struct StatusStream {
    pub counters: Arc<dyn Counters>,
    pub clock: Arc<dyn Clock>,
    /// The sandbox's `delivered` and `read`, when on (`Config::sandbox_receipts`).
    pub sandbox_receipts: Option<Receipts>,
    /// Webhook events, when the deployment has an events queue (`Config::events_queue_url`).
    pub events: Option<EventPublisher>,
}

/// The key of the window's state in what Lambda carries between invocations.
const STATE_KEY: &str = "counters";

/// A window's records so far: the first and last sequence numbers folded in, and their changes.
#[derive(Debug, Default, Serialize, Deserialize)]
struct WindowState {
    first: Option<String>,
    last: Option<String>,
    changes: Changes,
}

impl WindowState {
    fn restore(state: &HashMap<String, String>) -> WindowState {
        let Some(saved) = state.get(STATE_KEY) else { return WindowState::default() };
        // Only this handler writes it; a state it cannot read is one of an older version.
        serde_json::from_str(saved).unwrap_or_else(|err| {
            warn!(error = %err, "a window state that does not decode; starting the window afresh");
            WindowState::default()
        })
    }

    fn save(&self) -> HashMap<String, String> {
        // Strings, numbers and ids always serialise.
        HashMap::from([(STATE_KEY.to_string(), serde_json::to_string(self).unwrap_or_default())])
    }

    /// Folds one stream record in; a record that is not a message record's changes nothing.
    fn fold(&mut self, record: &EventRecord) {
        let change = &record.change;
        let Some(sequence) = change.sequence_number.as_deref() else { return };
        self.first.get_or_insert_with(|| sequence.to_string());
        self.last = Some(sequence.to_string());
        let keys: Keys = match serde_dynamo::from_item(change.keys.clone()) {
            Ok(keys) => keys,
            Err(_) => return,
        };
        if keys.sk != "MSG" || is_ttl_deletion(record) {
            return;
        }
        let view = |image: &serde_dynamo::Item| -> Option<MessageView> {
            if image.is_empty() {
                return None;
            }
            match serde_dynamo::from_item(image.clone()) {
                Ok(view) => Some(view),
                Err(err) => {
                    warn!(pk = %keys.pk, error = %err, "a message image the counters cannot read; skipping it");
                    None
                }
            }
        };
        let (old, new) = (view(&change.old_image), view(&change.new_image));
        add_change(
            &mut self.changes,
            old.as_ref(),
            new.as_ref(),
            Timestamp::from(change.approximate_creation_date_time),
        );
    }
}

/// One invocation of a tumbling window: the window's state in, the state with this batch folded
/// in out; the window's last invocation adds everything to the counters and ends the state. An
/// `Err` (a counter item could not be updated, events could not be queued) makes Lambda retry the
/// same invocation.
pub async fn handle_window(
    stream: &StatusStream,
    event: TimeWindowEvent,
) -> Result<TimeWindowEventResponse, StreamError> {
    if let Some(receipts) = &stream.sandbox_receipts {
        // Before the window's state is returned: a failure retries this invocation, and a
        // receipt applied twice changes nothing the second time.
        for record in &event.dynamo_db_event.records {
            if let Some((message, receipt)) = sandbox::next_receipt(record) {
                receipts.apply_as_seen(&message, &receipt).await?;
            }
        }
    }
    if let Some(events) = &stream.events {
        // Every invocation, not only the window's last: events are not held back by the window.
        let queued = events.publish(&event.dynamo_db_event.records).await?;
        if queued > 0 {
            debug!(queued, "webhook events queued");
        }
    }
    let window = &event.time_window_properties;
    let mut state = WindowState::restore(&window.state);
    for record in &event.dynamo_db_event.records {
        state.fold(record);
    }
    let mut response = TimeWindowEventResponse::default();
    if !window.is_final_invoke_for_window {
        response.time_window_event_response_properties.state = state.save();
        return Ok(response);
    }
    let (Some(first), Some(last)) = (state.first, state.last) else { return Ok(response) };
    if state.changes.is_empty() {
        debug!("a window without counter changes");
        return Ok(response);
    }
    let span = StreamSpan {
        shard: window.shard_id.clone().unwrap_or_default(),
        window_start: Timestamp::from(window.window.start),
        first,
        last,
    };
    stream.counters.add(&span, &state.changes, stream.clock.now()).await?;
    info!(shard = %span.shard, window = %span.window_start, items = state.changes.items().count(), "counters updated");
    Ok(response)
}

#[cfg(test)]
mod tests;
