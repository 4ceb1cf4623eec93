//! Webhook subscriptions in memory, with the DynamoDB adapter's conditions.

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::domain::ids::{OrgId, WebhookId};
use crate::domain::webhook::WebhookRecord;
use crate::ports::{StoreError, WebhookStore};

#[async_trait]
impl WebhookStore for MemoryStore {
    async fn create_webhook(&self, record: &WebhookRecord) -> Result<bool, StoreError> {
        let mut webhooks = lock(&self.webhooks);
        let key = (record.org_id.clone(), record.webhook_id.clone());
        if webhooks.contains_key(&key) {
            return Ok(false);
        }
        webhooks.insert(key, record.clone());
        Ok(true)
    }

    async fn get_webhook(&self, org: &OrgId, webhook_id: &WebhookId) -> Result<Option<WebhookRecord>, StoreError> {
        Ok(lock(&self.webhooks).get(&(org.clone(), webhook_id.clone())).cloned())
    }

    async fn list_webhooks(&self, org: &OrgId) -> Result<Vec<WebhookRecord>, StoreError> {
        let mut found: Vec<WebhookRecord> =
            lock(&self.webhooks).values().filter(|record| record.org_id == *org).cloned().collect();
        found.sort_by(|a, b| (a.created_at, &a.webhook_id).cmp(&(b.created_at, &b.webhook_id)));
        Ok(found)
    }

    async fn update_webhook(&self, record: &WebhookRecord) -> Result<bool, StoreError> {
        let mut webhooks = lock(&self.webhooks);
        match webhooks.get_mut(&(record.org_id.clone(), record.webhook_id.clone())) {
            Some(stored) => {
                *stored = record.clone();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete_webhook(&self, org: &OrgId, webhook_id: &WebhookId) -> Result<bool, StoreError> {
        Ok(lock(&self.webhooks).remove(&(org.clone(), webhook_id.clone())).is_some())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::domain::time::Timestamp;
    use crate::domain::webhook::EventType;

    #[tokio::test]
    async fn the_twin_keeps_the_tables_conditions() {
        let store = MemoryStore::default();
        let at = Timestamp::parse("2026-11-30T12:00:00Z").unwrap();
        let record = WebhookRecord {
            org_id: OrgId::from("org-a"),
            webhook_id: WebhookId::generate(),
            url: "https://example.com/hook".into(),
            events: BTreeSet::from([EventType::MessageFailed]),
            description: None,
            secret_ref: "ref".into(),
            created_at: at,
            updated_at: at,
        };
        assert!(store.create_webhook(&record).await.unwrap());
        assert!(!store.create_webhook(&record).await.unwrap());
        assert_eq!(store.get_webhook(&OrgId::from("org-b"), &record.webhook_id).await.unwrap(), None);
        assert!(store.list_webhooks(&OrgId::from("org-b")).await.unwrap().is_empty());
        assert!(store.delete_webhook(&record.org_id, &record.webhook_id).await.unwrap());
        assert!(!store.update_webhook(&record).await.unwrap());
        assert!(!store.delete_webhook(&record.org_id, &record.webhook_id).await.unwrap());
    }
}
