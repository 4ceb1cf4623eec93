//! Idempotency keys: the first answer to a request, kept so a retry gets it instead of a second send.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ids::OrgId;

/// A stored key: which request claimed it, and its answer once there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub response: Option<String>,
    /// Until when (epoch seconds) the claim without a response holds: its request's deadline.
    pub lease_until: Option<i64>,
}

impl IdempotencyRecord {
    /// A claim whose request never answered and whose lease has passed: it died.
    pub fn abandoned(&self, now: i64) -> bool {
        self.response.is_none() && self.lease_until.is_some_and(|until| until < now)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This request owns the key and must complete or release it.
    Claimed,
    /// Another request claimed the key first (and may still be running).
    Existing(IdempotencyRecord),
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for the request with `fingerprint` until `lease_until`, atomically: of
    /// concurrent claims, one wins. A key whose `expires_at` (epoch seconds) has passed counts as
    /// free, and so does an abandoned claim (no answer, lease passed) of the same request.
    async fn claim(
        &self,
        org: &OrgId,
        key: &str,
        fingerprint: &str,
        now: i64,
        lease_until: i64,
        expires_at: i64,
    ) -> Result<Claim, StoreError>;
    /// Stores the answer of the request that claimed the key, kept until `expires_at` (epoch seconds).
    async fn complete(&self, org: &OrgId, key: &str, response: &str, expires_at: i64) -> Result<(), StoreError>;
    /// Frees a claimed key whose request failed, so that a retry can run.
    async fn release(&self, org: &OrgId, key: &str) -> Result<(), StoreError>;
    async fn lookup(&self, org: &OrgId, key: &str, now: i64) -> Result<Option<IdempotencyRecord>, StoreError>;
}
