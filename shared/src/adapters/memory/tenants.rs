//! Orgs, API keys and phones in memory.

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::domain::tenant::{ApiKeyRecord, KeyHash, OrgId, Phone};
use crate::ports::{StoreError, TenantStore};

#[async_trait]
impl TenantStore for MemoryStore {
    async fn put_org(&self, _org: &OrgId, _name: &str, _now: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn put_api_key(&self, hash: &KeyHash, record: &ApiKeyRecord) -> Result<(), StoreError> {
        lock(&self.keys).insert(hash.clone(), record.clone());
        Ok(())
    }

    async fn find_api_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(lock(&self.keys).get(hash).cloned())
    }

    async fn put_phone(&self, phone: &Phone) -> Result<(), StoreError> {
        let mut phones = lock(&self.phones);
        phones.retain(|p| !(p.org_id == phone.org_id && p.phone_id == phone.phone_id));
        phones.push(phone.clone());
        Ok(())
    }

    async fn get_phone(&self, org: &OrgId, phone_id: &str) -> Result<Option<Phone>, StoreError> {
        Ok(lock(&self.phones).iter().find(|p| &p.org_id == org && p.phone_id == phone_id).cloned())
    }

    async fn list_phones(&self, org: &OrgId) -> Result<Vec<Phone>, StoreError> {
        Ok(lock(&self.phones).iter().filter(|p| &p.org_id == org).cloned().collect())
    }
}
