//! Broadcast records (`BCAST#{org}#{id}`), batch writes of a broadcast's messages, the listings
//! behind the queue routes (gsi3 by broadcast, gsi4 live by phone, gsi5 finished by phone) and purges.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, Select, WriteRequest};
use futures_util::{StreamExt, stream};

use super::indexes::{GSI2, GSI3, GSI4, GSI5};
use super::messages::{done_sort, message_item};
use super::{DynamoStore, Item, applied, from_item, key, s, to_item, unavailable};
use crate::domain::ids::{BroadcastId, OrgId, PhoneId, QueueId};
use crate::domain::message::{MessageRecord, Status};
use crate::domain::time::Timestamp;
use crate::ports::{BroadcastRecord, StoreError, Tracking};

/// DynamoDB's BatchWriteItem limit.
const WRITE_BATCH: usize = 25;
const CONCURRENT_BATCHES: usize = 4;
/// Unprocessed items are retried with backoff this many times before they count as failed.
const WRITE_RETRIES: u32 = 5;

fn broadcast_key(org: &OrgId, broadcast_id: &BroadcastId) -> Item {
    key(format!("BCAST#{org}#{broadcast_id}"), "BCAST")
}

impl DynamoStore {
    /// One BatchWriteItem of up to 25 records, retrying unprocessed items; returns the queue_ids never written.
    async fn write_batch(&self, batch: &[MessageRecord]) -> Result<Vec<QueueId>, StoreError> {
        let mut pending = Vec::with_capacity(batch.len());
        for record in batch {
            let put = PutRequest::builder()
                .set_item(Some(message_item(record)?))
                .build()
                .map_err(|e| StoreError::corrupt("a message item is incomplete", e))?;
            pending.push(WriteRequest::builder().put_request(put).build());
        }
        for attempt in 0..=WRITE_RETRIES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending.clone())
                .send()
                .await
                .map_err(unavailable)?;
            pending = output.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
            if pending.is_empty() {
                return Ok(vec![]);
            }
        }
        Ok(pending
            .iter()
            .filter_map(|w| w.put_request.as_ref())
            .filter_map(|p| p.item.get("queue_id").and_then(|v| v.as_s().ok()).cloned())
            .map(QueueId::from)
            .collect())
    }
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

    async fn create_many(&self, records: &[MessageRecord]) -> Result<Vec<QueueId>, StoreError> {
        let batches: Vec<_> = records.chunks(WRITE_BATCH).map(|batch| self.write_batch(batch)).collect();
        let results: Vec<Result<Vec<QueueId>, StoreError>> =
            stream::iter(batches).buffer_unordered(CONCURRENT_BATCHES).collect().await;
        let mut failed = vec![];
        for (result, batch) in results.into_iter().zip(records.chunks(WRITE_BATCH)) {
            match result {
                Ok(ids) => failed.extend(ids),
                // A batch that failed outright: none of its records is known to be written.
                Err(_) => failed.extend(batch.iter().map(|r| r.queue_id.clone())),
            }
        }
        Ok(failed)
    }

    async fn broadcast_messages(
        &self,
        org: &OrgId,
        broadcast_id: &BroadcastId,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let items = self.query_index(GSI3, format!("BCAST#{org}#{broadcast_id}"), None).await?;
        items.into_iter().map(from_item).collect()
    }

    async fn live_messages(&self, org: &OrgId, phone_id: &PhoneId) -> Result<Vec<MessageRecord>, StoreError> {
        let items = self.query_index(GSI4, format!("LIVE#{org}#{phone_id}"), None).await?;
        items.into_iter().map(from_item).collect()
    }

    async fn finished_since(
        &self,
        org: &OrgId,
        phone_id: &PhoneId,
        since: Timestamp,
    ) -> Result<Vec<Status>, StoreError> {
        let items = self.query_index(GSI5, format!("DONE#{org}#{phone_id}"), Some(since.to_string())).await?;
        Ok(items
            .iter()
            .filter_map(|item| item.get("status"))
            .filter_map(|status| serde_dynamo::from_attribute_value(status.clone()).ok())
            .collect())
    }

    async fn dead_lettered_count(&self, org: &OrgId, phone_id: &PhoneId) -> Result<u64, StoreError> {
        // The DLQ partition holds only dead-lettered records, across orgs; the filter keeps the caller's.
        let pages = self
            .index_query(GSI2, "DLQ")
            .filter_expression("org_id = :org AND phone_id = :phone")
            .expression_attribute_values(":org", s(org.as_str()))
            .expression_attribute_values(":phone", s(phone_id.as_str()))
            .select(Select::Count)
            .into_paginator()
            .send()
            .collect::<Vec<_>>()
            .await;
        let mut count = 0;
        for page in pages {
            count += page.map_err(unavailable)?.count as u64;
        }
        Ok(count)
    }

    async fn cancel(&self, org: &OrgId, queue_id: &QueueId, now: Timestamp) -> Result<bool, StoreError> {
        let (done_sk, live_sk) = (GSI5.sk, GSI4.sk);
        let update = self
            .update_message(org, queue_id)
            .update_expression(format!(
                "SET #status = :cancelled, timeline.cancelled_at = :now, status_description = :why, {done_sk} = :done \
                 REMOVE {live_sk}"
            ))
            // The delivery's `queued → sending` transition has the same condition, so exactly one wins.
            .condition_expression("#status = :queued")
            .expression_attribute_values(":cancelled", AttributeValue::S(Status::Cancelled.as_str().into()))
            .expression_attribute_values(":queued", AttributeValue::S(Status::Queued.as_str().into()))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":why", s("purged from the queue before it was sent"))
            .expression_attribute_values(":done", done_sort(now, queue_id));
        applied(update).await
    }
}
