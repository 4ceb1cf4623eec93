//! Orgs, API keys and phones in memory.

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::domain::ids::{OrgId, PhoneId};
use crate::domain::tenant::{ApiKeyRecord, KeyHash, Org, Phone};
use crate::domain::time::Timestamp;
use crate::ports::{StoreError, TenantStore};

#[async_trait]
impl TenantStore for MemoryStore {
    async fn put_org(&self, org: &OrgId, name: &str, now: Timestamp) -> Result<(), StoreError> {
        let record = Org { org_id: org.clone(), name: name.to_string(), created_at: now };
        lock(&self.orgs).insert(org.clone(), record);
        Ok(())
    }

    async fn get_org(&self, org: &OrgId) -> Result<Option<Org>, StoreError> {
        Ok(lock(&self.orgs).get(org).cloned())
    }

    async fn put_api_key(&self, hash: &KeyHash, record: &ApiKeyRecord) -> Result<(), StoreError> {
        lock(&self.keys).insert(hash.clone(), record.clone());
        Ok(())
    }

    async fn find_api_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(lock(&self.keys).get(hash).cloned())
    }

    async fn list_api_keys(&self, org: &OrgId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut keys: Vec<ApiKeyRecord> = lock(&self.keys).values().filter(|k| &k.org_id == org).cloned().collect();
        keys.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        Ok(keys)
    }

    async fn revoke_api_key(
        &self,
        org: &OrgId,
        key_id: &str,
        now: Timestamp,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let mut keys = lock(&self.keys);
        let Some(key) = keys.values_mut().find(|k| &k.org_id == org && k.key_id == key_id) else {
            return Ok(None);
        };
        key.revoked_at.get_or_insert(now);
        Ok(Some(key.clone()))
    }

    async fn put_phone(&self, phone: &Phone) -> Result<(), StoreError> {
        let mut phones = lock(&self.phones);
        phones.retain(|p| !(p.org_id == phone.org_id && p.phone_id == phone.phone_id));
        phones.push(phone.clone());
        Ok(())
    }

    async fn get_phone(&self, org: &OrgId, phone_id: &PhoneId) -> Result<Option<Phone>, StoreError> {
        Ok(lock(&self.phones).iter().find(|p| &p.org_id == org && &p.phone_id == phone_id).cloned())
    }

    async fn list_phones(&self, org: &OrgId) -> Result<Vec<Phone>, StoreError> {
        Ok(lock(&self.phones).iter().filter(|p| &p.org_id == org).cloned().collect())
    }

    async fn delete_phone(&self, org: &OrgId, phone_id: &PhoneId) -> Result<(), StoreError> {
        lock(&self.phones).retain(|p| !(&p.org_id == org && &p.phone_id == phone_id));
        Ok(())
    }
}
