//! Idempotency keys in memory, with the DynamoDB adapter's conditions.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::domain::ids::OrgId;
use crate::ports::{Claim, IdempotencyRecord, IdempotencyStore, StoreError};

#[derive(Default)]
pub struct MemoryIdempotency {
    keys: Mutex<HashMap<(OrgId, String), (IdempotencyRecord, i64)>>,
    /// Makes `complete` fail, as a DynamoDB outage after the work succeeded would.
    pub fail_complete: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl IdempotencyStore for MemoryIdempotency {
    async fn claim(
        &self,
        org: &OrgId,
        key: &str,
        fingerprint: &str,
        now: i64,
        lease_until: i64,
        expires_at: i64,
    ) -> Result<Claim, StoreError> {
        let mut keys = lock(&self.keys);
        let slot = (org.clone(), key.to_string());
        match keys.get(&slot) {
            Some((record, expires))
                if *expires >= now && !(record.abandoned(now) && record.fingerprint == fingerprint) =>
            {
                Ok(Claim::Existing(record.clone()))
            }
            _ => {
                let record = IdempotencyRecord {
                    fingerprint: fingerprint.to_string(),
                    response: None,
                    lease_until: Some(lease_until),
                };
                keys.insert(slot, (record, expires_at));
                Ok(Claim::Claimed)
            }
        }
    }

    async fn complete(&self, org: &OrgId, key: &str, response: &str, expires_at: i64) -> Result<(), StoreError> {
        if self.fail_complete.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(StoreError::unavailable("UpdateItem", "simulated outage"));
        }
        if let Some((record, expires)) = lock(&self.keys).get_mut(&(org.clone(), key.to_string())) {
            record.response = Some(response.to_string());
            *expires = expires_at;
        }
        Ok(())
    }

    async fn release(&self, org: &OrgId, key: &str) -> Result<(), StoreError> {
        let mut keys = lock(&self.keys);
        let slot = (org.clone(), key.to_string());
        if keys.get(&slot).is_some_and(|(record, _)| record.response.is_none()) {
            keys.remove(&slot);
        }
        Ok(())
    }

    async fn lookup(&self, org: &OrgId, key: &str, now: i64) -> Result<Option<IdempotencyRecord>, StoreError> {
        let keys = lock(&self.keys);
        Ok(keys.get(&(org.clone(), key.to_string())).filter(|(_, e)| *e >= now).map(|(r, _)| r.clone()))
    }
}
