//! Webhook events from the table's stream. A message record whose status changed to one an event
//! reports (sent, delivered, read, failed) becomes one delivery per webhook of its org that wants
//! it, queued on the events queue before the invocation answers. Why the stream and not an outbox
//! record: DynamoDB writes the stream record with the item, so a status change and its event
//! cannot diverge, and it costs no write unit; the table's stream exists already for the counters.
//! A retried invocation queues the same deliveries again: at least once, under the same event id.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lambda_events::event::dynamodb::EventRecord;
use serde::Deserialize;
use tracing::warn;

use super::error::StreamError;
use super::records::{Keys, is_ttl_deletion};
use crate::domain::ids::{OrgId, PhoneId};
use crate::domain::message::{MessageRecord, Status};
use crate::domain::time::Timestamp;
use crate::domain::webhook::{EventDelivery, EventType, WebhookEvent, WebhookRecord};
use crate::ports::{EventQueue, TenantStore, WebhookStore};

/// What the publisher needs: the orgs' subscriptions and phones, and the queue.
#[derive(Clone)]
pub struct EventPublisher {
    pub webhooks: Arc<dyn WebhookStore>,
    pub tenants: Arc<dyn TenantStore>,
    pub queue: Arc<dyn EventQueue>,
}

#[derive(Deserialize)]
struct StatusOnly {
    status: Status,
}

/// A message record that changed to a status an event reports: the record as it is now, the
/// event's type, and when the stream saw the change.
fn status_change(record: &EventRecord) -> Option<(MessageRecord, EventType, Timestamp)> {
    let change = &record.change;
    let keys: Keys = serde_dynamo::from_item(change.keys.clone()).ok()?;
    if keys.sk != "MSG" || is_ttl_deletion(record) || change.new_image.is_empty() {
        return None;
    }
    let new: MessageRecord = match serde_dynamo::from_item(change.new_image.clone()) {
        Ok(new) => new,
        Err(err) => {
            warn!(pk = %keys.pk, error = %err, "a message image the events cannot read; skipping it");
            return None;
        }
    };
    let old = serde_dynamo::from_item::<_, StatusOnly>(change.old_image.clone()).ok().map(|old| old.status);
    if old == Some(new.status) {
        return None;
    }
    let kind = EventType::for_status(new.status)?;
    Some((new, kind, Timestamp::from(change.approximate_creation_date_time)))
}

impl EventPublisher {
    /// Queues the deliveries the batch's status changes make; returns how many. An org's webhooks
    /// and phones are read once per batch, and only for orgs with a change.
    pub async fn publish(&self, records: &[EventRecord]) -> Result<usize, StreamError> {
        let mut subscriptions: HashMap<OrgId, Vec<WebhookRecord>> = HashMap::new();
        let mut numbers: HashMap<OrgId, HashMap<PhoneId, String>> = HashMap::new();
        let mut deliveries = vec![];
        for (record, kind, at) in records.iter().filter_map(status_change) {
            let org = &record.org_id;
            if !subscriptions.contains_key(org) {
                subscriptions.insert(org.clone(), self.webhooks.list_webhooks(org).await?);
            }
            let wanted: Vec<&WebhookRecord> = subscriptions[org].iter().filter(|webhook| webhook.wants(kind)).collect();
            if wanted.is_empty() {
                continue;
            }
            if !numbers.contains_key(org) {
                let phones = self.tenants.list_phones(org).await?;
                numbers.insert(org.clone(), phones.into_iter().map(|phone| (phone.phone_id, phone.number)).collect());
            }
            // A phone removed since the send has no number left: its id stands in.
            let phone = numbers[org].get(&record.phone_id).cloned().unwrap_or_else(|| record.phone_id.to_string());
            let Some(event) = WebhookEvent::of(&record, &phone, at) else { continue };
            deliveries.extend(wanted.into_iter().map(|webhook| EventDelivery::of(webhook, &event)));
        }
        if !deliveries.is_empty() {
            self.queue.publish(&deliveries).await?;
        }
        Ok(deliveries.len())
    }
}
