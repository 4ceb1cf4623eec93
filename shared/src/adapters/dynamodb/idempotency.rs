//! Idempotency keys (`IDEM#{org}#{key}`) and rate-limit windows (`RATE#{key_id}#{window}`).

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::indexes::EXPIRES_AT;
use super::{DynamoStore, Item, key, number as n, s, unavailable};
use crate::domain::ids::OrgId;
use crate::ports::{Claim, IdempotencyRecord, IdempotencyStore, RateCounter, StoreError};

fn idempotency_key(org: &OrgId, idempotency_key: &str) -> Item {
    key(format!("IDEM#{org}#{idempotency_key}"), "IDEM")
}

fn record_of(item: &Item) -> IdempotencyRecord {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let lease_until = item.get(LEASE_UNTIL).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok());
    IdempotencyRecord { fingerprint: text("fingerprint").unwrap_or_default(), response: text("response"), lease_until }
}

/// Until when (epoch seconds) a claim without an answer holds the key.
const LEASE_UNTIL: &str = "lease_until";

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn claim(
        &self,
        org: &OrgId,
        idem: &str,
        fingerprint: &str,
        now: i64,
        lease_until: i64,
        expires_at: i64,
    ) -> Result<Claim, StoreError> {
        let mut item = idempotency_key(org, idem);
        item.insert("fingerprint".into(), s(fingerprint));
        item.insert("claimed_at".into(), n(now));
        item.insert(LEASE_UNTIL.into(), n(lease_until));
        item.insert(EXPIRES_AT.into(), n(expires_at));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // DynamoDB's TTL deletes lazily, so an expired key is free even while it is still stored;
            // a claim of the same request that never answered is free once its lease has passed.
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at < :now \
                 OR (attribute_not_exists(#response) AND #lease < :now AND #fingerprint = :fingerprint)",
            )
            .expression_attribute_names("#response", "response")
            .expression_attribute_names("#lease", LEASE_UNTIL)
            .expression_attribute_names("#fingerprint", "fingerprint")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":fingerprint", s(fingerprint))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(Claim::Existing(failed.item().map(record_of).unwrap_or(IdempotencyRecord {
                        fingerprint: String::new(),
                        response: None,
                        lease_until: None,
                    })))
                }
                _ => Err(unavailable(err)),
            },
        }
    }

    async fn complete(&self, org: &OrgId, idem: &str, response: &str, expires_at: i64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(idempotency_key(org, idem)))
            .update_expression("SET #response = :response, expires_at = :expires")
            .expression_attribute_names("#response", "response")
            .expression_attribute_values(":response", s(response))
            .expression_attribute_values(":expires", n(expires_at))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn release(&self, org: &OrgId, idem: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(idempotency_key(org, idem)))
            // Only a claim still without an answer is released; a completed one stays for replays.
            .condition_expression("attribute_not_exists(#response)")
            .expression_attribute_names("#response", "response")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn lookup(&self, org: &OrgId, idem: &str, now: i64) -> Result<Option<IdempotencyRecord>, StoreError> {
        let live = self.fetch_item(idempotency_key(org, idem)).await?.filter(|item| {
            item.get(EXPIRES_AT)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|e| e >= now)
        });
        Ok(live.as_ref().map(record_of))
    }
}

#[async_trait]
impl RateCounter for DynamoStore {
    async fn take(&self, bucket: &str, window_start: i64, tokens: u64, expires_at: i64) -> Result<u64, StoreError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("RATE#{bucket}#{window_start}"), "RATE")))
            .update_expression("ADD hits :tokens SET expires_at = :expires")
            .expression_attribute_values(":tokens", n(tokens as i64))
            .expression_attribute_values(":expires", n(expires_at))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        let hits = output.attributes.as_ref().and_then(|a| a.get("hits")).and_then(|v| v.as_n().ok());
        hits.and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::corrupt("a rate window", "the counter's item has no numeric hits"))
    }
}
