//! Orgs, API keys and phones.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ids::{OrgId, PhoneId};
use crate::domain::tenant::{ApiKeyRecord, KeyHash, Org, Phone};
use crate::domain::time::Timestamp;

/// Orgs, API keys and phones.
#[async_trait]
pub trait TenantStore: Send + Sync {
    async fn put_org(&self, org: &OrgId, name: &str, now: Timestamp) -> Result<(), StoreError>;
    async fn get_org(&self, org: &OrgId) -> Result<Option<Org>, StoreError>;
    async fn put_api_key(&self, hash: &KeyHash, record: &ApiKeyRecord) -> Result<(), StoreError>;
    async fn find_api_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// The org's keys (revoked ones too), ordered by key_id.
    async fn list_api_keys(&self, org: &OrgId) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Marks the org's key revoked (keeping the first `revoked_at`); `None` when the org has no such key.
    async fn revoke_api_key(
        &self,
        org: &OrgId,
        key_id: &str,
        now: Timestamp,
    ) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn put_phone(&self, phone: &Phone) -> Result<(), StoreError>;
    async fn list_phones(&self, org: &OrgId) -> Result<Vec<Phone>, StoreError>;
    async fn get_phone(&self, org: &OrgId, phone_id: &PhoneId) -> Result<Option<Phone>, StoreError>;
    /// Deleting a phone that does not exist is not an error.
    async fn delete_phone(&self, org: &OrgId, phone_id: &PhoneId) -> Result<(), StoreError>;
}
