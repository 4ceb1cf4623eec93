//! Counter items (`STATS#{org}#{phone}` / `STATS`, `BCAST#{org}#{id}` / `COUNTS`): one
//! conditional UpdateItem per item and stream window adds the window's changes and moves the
//! item's watermark for the shard, so a retried window is skipped by the items that have it.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use futures_util::{StreamExt, stream};
use tracing::warn;

use super::indexes::EXPIRES_AT;
use super::{DynamoStore, Item, condition_failure, key, number, s, unavailable};
use crate::domain::counters::{BroadcastTally, Changes, CounterItem, PhoneCounts, StreamSpan, stale_attributes};
use crate::domain::ids::{BroadcastId, OrgId, PhoneId};
use crate::domain::time::Timestamp;
use crate::ports::{Counters, StoreError};
use crate::telemetry::chain;

/// Counter items updated at once for one window.
const CONCURRENT_UPDATES: usize = 8;

fn item_key(item: &CounterItem) -> Item {
    match item {
        CounterItem::Phone { org, phone } => phone_key(org, phone),
        CounterItem::Broadcast { org, broadcast } => broadcast_key(org, broadcast),
    }
}

fn phone_key(org: &OrgId, phone: &PhoneId) -> Item {
    key(format!("STATS#{org}#{phone}"), "STATS")
}

fn broadcast_key(org: &OrgId, broadcast: &BroadcastId) -> Item {
    key(format!("BCAST#{org}#{broadcast}"), "COUNTS")
}

/// The numeric attributes of an item, by name.
fn numbers(item: &Item) -> impl Iterator<Item = (&str, i64)> {
    item.iter().filter_map(|(name, value)| Some((name.as_str(), value.as_n().ok()?.parse().ok()?)))
}

impl DynamoStore {
    /// Adds `tally` to one counter item unless its watermark shows it has `span` already.
    async fn add_to(
        &self,
        item: &CounterItem,
        tally: &std::collections::BTreeMap<String, i64>,
        expires_at: Option<i64>,
        span: &StreamSpan,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut adds = vec![];
        let mut update = self.client.update_item().table_name(&self.table).set_key(Some(item_key(item)));
        for (i, (attribute, by)) in tally.iter().enumerate() {
            adds.push(format!("#a{i} :a{i}"));
            update = update
                .expression_attribute_names(format!("#a{i}"), attribute)
                .expression_attribute_values(format!(":a{i}"), number(*by));
        }
        let mut set = vec!["#w = :last".to_string()];
        if let Some(expires_at) = expires_at {
            // A broadcast's counts go with its records.
            set.push(format!("{EXPIRES_AT} = :expires"));
            update = update.expression_attribute_values(":expires", number(expires_at));
        }
        let result = update
            .update_expression(format!("ADD {} SET {}", adds.join(", "), set.join(", ")))
            .condition_expression("attribute_not_exists(#w) OR #w < :first")
            .expression_attribute_names("#w", span.watermark_attribute())
            .expression_attribute_values(":first", s(span.first_mark()))
            .expression_attribute_values(":last", s(span.last_mark()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let after = match result {
            Ok(output) => output.attributes.unwrap_or_default(),
            // The watermark has this span: a retried window this item took in already.
            Err(err) => return condition_failure(err).map(|_| ()),
        };
        let stale = stale_attributes(after.iter().map(|(k, v)| (k.as_str(), v.as_s().ok().map(String::as_str))), now);
        if !stale.is_empty() {
            let mut prune = self.client.update_item().table_name(&self.table).set_key(Some(item_key(item)));
            let mut names = vec![];
            for (i, attribute) in stale.iter().enumerate() {
                names.push(format!("#r{i}"));
                prune = prune.expression_attribute_names(format!("#r{i}"), attribute);
            }
            // Pruning is housekeeping: a failure leaves a few bytes for the next window to remove.
            if let Err(err) = prune.update_expression(format!("REMOVE {}", names.join(", "))).send().await {
                warn!(error = %chain(&unavailable(err)), "could not prune a counter item");
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Counters for DynamoStore {
    async fn add(&self, span: &StreamSpan, changes: &Changes, now: Timestamp) -> Result<(), StoreError> {
        let updates: Vec<_> =
            changes.items().map(|(item, tally)| self.add_to(item, tally, changes.expiry(item), span, now)).collect();
        let results: Vec<Result<(), StoreError>> =
            stream::iter(updates).buffer_unordered(CONCURRENT_UPDATES).collect().await;
        results.into_iter().collect()
    }

    async fn phone_counts(&self, org: &OrgId, phone: &PhoneId, now: Timestamp) -> Result<PhoneCounts, StoreError> {
        let item = self.fetch_item(phone_key(org, phone)).await?.unwrap_or_default();
        Ok(PhoneCounts::of(numbers(&item), now))
    }

    async fn broadcast_tally(&self, org: &OrgId, broadcast: &BroadcastId) -> Result<BroadcastTally, StoreError> {
        let item = self.fetch_item(broadcast_key(org, broadcast)).await?.unwrap_or_default();
        Ok(BroadcastTally::of(numbers(&item)))
    }
}
