//! Webhook subscriptions: an org's, each found by its id within the org, listed without a Scan.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ids::{OrgId, WebhookId};
use crate::domain::webhook::WebhookRecord;

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a new subscription; an existing id is never overwritten (`false` then).
    async fn create_webhook(&self, record: &WebhookRecord) -> Result<bool, StoreError>;
    /// The org's webhook with this id; another org's is `None`, like one that does not exist.
    async fn get_webhook(&self, org: &OrgId, webhook_id: &WebhookId) -> Result<Option<WebhookRecord>, StoreError>;
    /// The org's webhooks, oldest first.
    async fn list_webhooks(&self, org: &OrgId) -> Result<Vec<WebhookRecord>, StoreError>;
    /// Replaces a subscription that still exists (`false` when it was deleted meanwhile).
    async fn update_webhook(&self, record: &WebhookRecord) -> Result<bool, StoreError>;
    /// Deletes it; `false` when there was none.
    async fn delete_webhook(&self, org: &OrgId, webhook_id: &WebhookId) -> Result<bool, StoreError>;
}
