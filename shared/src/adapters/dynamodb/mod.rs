//! DynamoDB: one table holds orgs, keys, phones, message records, broadcasts, uploads, webhooks,
//! idempotency keys and rate-limit windows.
//!
//! | item            | pk                        | sk           | indexes                                          |
//! |-----------------|---------------------------|--------------|--------------------------------------------------|
//! | org             | `ORG#{org}`               | `ORG`        |                                                  |
//! | phone           | `ORG#{org}`               | `PHONE#{id}` | gsi1 `WAPHONES` / `{phone_number_id}#{org}#{id}` for whatsapp-cloud |
//! | api key         | `KEY#{sha256}`            | `KEY`        | gsi1 `KEYS#{org}` / key_id                       |
//! | message         | `MSG#{org}#{queue_id}`    | `MSG`        | gsi2 `DLQ` once dead-lettered; gsi4 `LIVE#{org}#{phone}` / due while queued or sending, if scheduled ahead; gsi6 (keys only) `PMID#{org}#{provider message id}` / queue_id once a real provider accepted it |
//! | broadcast       | `BCAST#{org}#{id}`        | `BCAST`      |                                                  |
//! | upload          | `UPLOAD#{org}#{id}`       | `UPLOAD`     | (TTL `expires_at`: usable in sends for 24 hours) |
//! | webhook         | `ORG#{org}`               | `WEBHOOK#{id}` |                                                |
//! | idempotency key | `IDEM#{org}#{key}`        | `IDEM`       |                                                  |
//! | rate window     | `RATE#{key_id}#{window}`  | `RATE`       |                                                  |
//! | poison job      | `POISON#{sqs message id}` | `POISON`     | gsi2 `POISON` / recorded_at                      |
//!
//! Every key embeds the org, so another org's id is simply not found; no lookup is a Scan. A
//! message's queue_id is derived from its unique_id and a broadcast's unique_ids from its id and
//! positions (`domain::ids`), so finding either is a GetItem or a BatchGetItem, never an index.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;

use crate::adapters::aws::LazyClient;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::ids::OrgId;
use crate::ports::StoreError;
use indexes::{Index, PK, SK};

mod counters;
mod idempotency;
pub mod indexes;
mod messages;
mod receipts;
mod tenants;
mod tracking;
mod uploads;
mod webhooks;

pub use messages::stored_message_item;

/// An item as the SDK reads and writes it.
pub type Item = HashMap<String, AttributeValue>;

/// DynamoDB's BatchGetItem limit.
const BATCH_GET: usize = 100;
/// Unprocessed keys are retried with backoff this many times before the read fails.
const BATCH_RETRIES: u32 = 5;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: LazyClient<Client>,
    table: String,
}

impl DynamoStore {
    pub fn new(client: impl Into<LazyClient<Client>>, table: impl Into<String>) -> DynamoStore {
        DynamoStore { client: client.into(), table: table.into() }
    }

    /// The item at `key`, read consistently (a status asked for right after a write sees it).
    pub(super) async fn fetch_item(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item)
    }

    /// A Query of one partition of `index` (`#pk = :pk`), for the caller to narrow and send.
    pub(super) fn index_query(&self, index: Index, partition: impl Into<String>) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(index.name)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", index.pk)
            .expression_attribute_values(":pk", s(partition))
    }

    /// Every item of an org's partition (`ORG#{org}`) whose sort key starts with `prefix`, page by
    /// page: its phones, its webhooks. `consistent` where a caller reads what it may just have written.
    pub(super) async fn org_items(&self, org: &OrgId, prefix: &str, consistent: bool) -> Result<Vec<Item>, StoreError> {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(format!("ORG#{org}")))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(consistent)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(unavailable)
    }

    /// Every item of an index partition, page by page; only sort keys from `since` on when given.
    pub(super) async fn query_index(
        &self,
        index: Index,
        partition: String,
        since: Option<String>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut query = self.index_query(index, partition);
        if let Some(since) = since {
            query = query
                .key_condition_expression("#pk = :pk AND #sk >= :since")
                .expression_attribute_names("#sk", index.sk)
                .expression_attribute_values(":since", s(since));
        }
        query.into_paginator().items().send().collect::<Result<Vec<_>, _>>().await.map_err(unavailable)
    }

    /// The items at `keys` that exist, read consistently with BatchGetItem (100 keys a request,
    /// unprocessed keys retried with backoff), in no particular order.
    pub(super) async fn fetch_many(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET) {
            let mut pending = chunk.to_vec();
            for attempt in 0..=BATCH_RETRIES {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::corrupt("a BatchGetItem request is incomplete", e))?;
                let mut output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(unavailable)?;
                found.extend(output.responses.as_mut().and_then(|r| r.remove(&self.table)).unwrap_or_default());
                pending =
                    output.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
            }
            if !pending.is_empty() {
                return Err(StoreError::unavailable("BatchGetItem", "DynamoDB kept keys unprocessed after retries"));
            }
        }
        Ok(found)
    }

    /// The record at `key`, decoded.
    pub(super) async fn fetch<T: DeserializeOwned>(&self, key: Item) -> Result<Option<T>, StoreError> {
        self.fetch_item(key).await?.map(from_item).transpose()
    }
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn number(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

/// An SDK error as ours: a `ValidationException` about a size (an item over 400 KB, a key over
/// 2 KB) is caused by the input and `Rejected`; anything else is `Unavailable`.
pub(super) fn unavailable<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let service = err.as_service_error();
    let message = service.and_then(|e| e.message()).unwrap_or_default();
    if service.and_then(|e| e.code()) == Some("ValidationException") && message.to_ascii_lowercase().contains("size") {
        return StoreError::rejected(format!("DynamoDB: {message}"), err);
    }
    StoreError::unavailable("a DynamoDB request failed", err)
}

fn codec(err: serde_dynamo::Error) -> StoreError {
    StoreError::corrupt("an item does not match its record type", err)
}

pub(super) fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(codec)
}

pub(super) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(codec)
}

pub(super) fn to_value<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value).map_err(codec)
}

/// The item that failed a condition (ALL_OLD), `Ok(None)` when the item does not exist,
/// or the error itself when it was not a condition failure.
pub(super) fn condition_failure(
    err: SdkError<UpdateItemError, impl std::fmt::Debug + Send + Sync + 'static>,
) -> Result<Option<Item>, StoreError> {
    match err.as_service_error() {
        Some(UpdateItemError::ConditionalCheckFailedException(failed)) => Ok(failed.item().cloned()),
        _ => Err(unavailable(err)),
    }
}

/// Puts `item` under `condition`: `Ok(true)` when written, `Ok(false)` when the condition did not hold.
pub(super) async fn put_applied(store: &DynamoStore, item: Item, condition: &str) -> Result<bool, StoreError> {
    let put = store.client.put_item().table_name(&store.table).set_item(Some(item)).condition_expression(condition);
    match put.send().await {
        Ok(_) => Ok(true),
        Err(err) if err.as_service_error().is_some_and(PutItemError::is_conditional_check_failed_exception) => {
            Ok(false)
        }
        Err(err) => Err(unavailable(err)),
    }
}

/// Runs a conditional update: `Ok(true)` when applied, `Ok(false)` when its condition did not hold.
pub(super) async fn applied(update: UpdateItemFluentBuilder) -> Result<bool, StoreError> {
    match update.send().await {
        Ok(_) => Ok(true),
        Err(err) => condition_failure(err).map(|_| false),
    }
}
