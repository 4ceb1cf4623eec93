//! DynamoDB: one table holds orgs, keys, phones, message records, broadcasts, uploads,
//! idempotency keys and rate-limit windows.
//!
//! | item            | pk                        | sk           | indexes                                          |
//! |-----------------|---------------------------|--------------|--------------------------------------------------|
//! | org             | `ORG#{org}`               | `ORG`        |                                                  |
//! | phone           | `ORG#{org}`               | `PHONE#{id}` |                                                  |
//! | api key         | `KEY#{sha256}`            | `KEY`        | gsi1 `KEYS#{org}` / key_id                       |
//! | message         | `MSG#{org}#{queue_id}`    | `MSG`        | gsi1 `UID#{org}#{unique_id}`; gsi2 `DLQ` once dead-lettered; gsi3 `BCAST#{org}#{broadcast}` / due; gsi4 `LIVE#{org}#{phone}` / due while queued or sending; gsi5 `DONE#{org}#{phone}` / finished_at once finished |
//! | broadcast       | `BCAST#{org}#{id}`        | `BCAST`      |                                                  |
//! | upload          | `UPLOAD#{org}#{id}`       | `UPLOAD`     | (TTL `expires_at`: usable in sends for 24 hours) |
//! | idempotency key | `IDEM#{org}#{key}`        | `IDEM`       |                                                  |
//! | rate window     | `RATE#{key_id}#{window}`  | `RATE`       |                                                  |
//! | poison job      | `POISON#{sqs message id}` | `POISON`     | gsi2 `POISON` / recorded_at                      |
//!
//! Every key embeds the org, so another org's id is simply not found; no lookup is a Scan.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ports::StoreError;
use indexes::{Index, PK, SK};

mod idempotency;
pub mod indexes;
mod messages;
mod tenants;
mod tracking;
mod uploads;

pub(super) type Item = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore { client, table: table.into() }
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

    /// The record at `key`, decoded.
    pub(super) async fn fetch<T: DeserializeOwned>(&self, key: Item) -> Result<Option<T>, StoreError> {
        self.fetch_item(key).await?.map(from_item).transpose()
    }
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
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

/// Runs a conditional update: `Ok(true)` when applied, `Ok(false)` when its condition did not hold.
pub(super) async fn applied(update: UpdateItemFluentBuilder) -> Result<bool, StoreError> {
    match update.send().await {
        Ok(_) => Ok(true),
        Err(err) => condition_failure(err).map(|_| false),
    }
}
