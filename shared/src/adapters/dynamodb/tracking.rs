//! Broadcast records (`BCAST#{org}#{id}`), conditional writes of a broadcast's messages and their
//! reads by derived ids, the phone's live messages (gsi4) behind purge, and purges.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::{StreamExt, stream};

use super::indexes::GSI4;
use super::messages::PURGED_AT;
use super::{DynamoStore, Item, applied, from_item, key, s, to_item, unavailable};
use crate::domain::ids::{BroadcastId, OrgId, PhoneId, QueueId};
use crate::domain::message::{MessageRecord, PURGED, Status};
use crate::domain::time::Timestamp;
use crate::ports::{BroadcastRecord, Created, StatusStore, StoreError, Tracking};

/// PutItems in flight at once for one broadcast: 1,000 records must not open 1,000 connections.
const CONCURRENT_PUTS: usize = 16;

fn broadcast_key(org: &OrgId, broadcast_id: &BroadcastId) -> Item {
    key(format!("BCAST#{org}#{broadcast_id}"), "BCAST")
}

#[async_trait]
impl Tracking for DynamoStore {
    async fn put_broadcast(&self, record: &BroadcastRecord) -> Result<(), StoreError> {
        let mut item = to_item(record)?;
        item.extend(broadcast_key(&record.org_id, &record.broadcast_id));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn get_broadcast(
        &self,
        org: &OrgId,
        broadcast_id: &BroadcastId,
    ) -> Result<Option<BroadcastRecord>, StoreError> {
        self.fetch(broadcast_key(org, broadcast_id)).await
    }

    async fn create_many(&self, records: &[MessageRecord]) -> Vec<Result<Created, StoreError>> {
        // Conditional PutItems, not BatchWriteItem (which takes no condition): a taken queue_id
        // must be found, never overwritten. The same write units either way.
        let puts: Vec<_> = records.iter().map(|record| StatusStore::create(self, record)).collect();
        stream::iter(puts).buffered(CONCURRENT_PUTS).collect().await
    }

    async fn broadcast_messages(&self, broadcast: &BroadcastRecord) -> Result<Vec<MessageRecord>, StoreError> {
        let queue_ids = broadcast.queue_ids();
        let keys = queue_ids.iter().map(|queue_id| DynamoStore::message_key(&broadcast.org_id, queue_id)).collect();
        let mut found: Vec<MessageRecord> =
            self.fetch_many(keys).await?.into_iter().map(from_item).collect::<Result<_, _>>()?;
        // A queue_id another message took first (a redrawn chat's first draw) is not this broadcast's.
        found.retain(|m| m.broadcast_id.as_ref() == Some(&broadcast.broadcast_id));
        let position: HashMap<&QueueId, usize> = queue_ids.iter().enumerate().map(|(i, id)| (id, i)).collect();
        found.sort_by_key(|m| position.get(&m.queue_id).copied());
        Ok(found)
    }

    async fn live_messages(&self, org: &OrgId, phone_id: &PhoneId) -> Result<Vec<MessageRecord>, StoreError> {
        let items = self.query_index(GSI4, format!("LIVE#{org}#{phone_id}"), None).await?;
        items.into_iter().map(from_item).collect()
    }

    async fn mark_phone_purged(&self, org: &OrgId, phone_id: &PhoneId, at: Timestamp) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::purge_key(org, phone_id)))
            .update_expression("SET #at = :at")
            // A later purge's mark stays: the marker only moves forward.
            .condition_expression("attribute_not_exists(#at) OR #at < :at")
            .expression_attribute_names("#at", PURGED_AT)
            .expression_attribute_values(":at", s(at.to_string()));
        applied(update).await.map(|_| ())
    }

    async fn cancel(&self, org: &OrgId, queue_id: &QueueId, now: Timestamp) -> Result<bool, StoreError> {
        let live_sk = GSI4.sk;
        let update = self
            .update_message(org, queue_id)
            .update_expression(format!(
                "SET #status = :cancelled, timeline.cancelled_at = :now, status_description = :why \
                 REMOVE {live_sk}"
            ))
            // The delivery's `queued → sending` transition has the same condition, so exactly one wins.
            .condition_expression("#status = :queued")
            .expression_attribute_values(":cancelled", AttributeValue::S(Status::Cancelled.as_str().into()))
            .expression_attribute_values(":queued", AttributeValue::S(Status::Queued.as_str().into()))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":why", s(PURGED));
        applied(update).await
    }
}
