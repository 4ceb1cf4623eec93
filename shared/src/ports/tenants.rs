//! Orgs, API keys and phones.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::tenant::{ApiKeyRecord, KeyHash, OrgId, Phone};

/// Orgs, API keys and phones.
#[async_trait]
pub trait TenantStore: Send + Sync {
    async fn put_org(&self, org: &OrgId, name: &str, now: &str) -> Result<(), StoreError>;
    async fn put_api_key(&self, hash: &KeyHash, record: &ApiKeyRecord) -> Result<(), StoreError>;
    async fn find_api_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn put_phone(&self, phone: &Phone) -> Result<(), StoreError>;
    async fn list_phones(&self, org: &OrgId) -> Result<Vec<Phone>, StoreError>;
    async fn get_phone(&self, org: &OrgId, phone_id: &str) -> Result<Option<Phone>, StoreError>;
}
