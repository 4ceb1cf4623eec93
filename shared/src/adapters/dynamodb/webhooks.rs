//! Webhook subscriptions: one item per webhook in its org's partition (`ORG#{org}` /
//! `WEBHOOK#{id}`), so an org's list is one Query and another org's id is simply not found.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::{DynamoStore, Item, from_item, key, put_applied, to_item, unavailable};
use crate::domain::ids::{OrgId, WebhookId};
use crate::domain::webhook::WebhookRecord;
use crate::ports::{StoreError, WebhookStore};

fn webhook_key(org: &OrgId, webhook_id: &WebhookId) -> Item {
    key(format!("ORG#{org}"), &format!("WEBHOOK#{webhook_id}"))
}

fn webhook_item(record: &WebhookRecord) -> Result<Item, StoreError> {
    let mut item = to_item(record)?;
    item.extend(webhook_key(&record.org_id, &record.webhook_id));
    Ok(item)
}

#[async_trait]
impl WebhookStore for DynamoStore {
    async fn create_webhook(&self, record: &WebhookRecord) -> Result<bool, StoreError> {
        put_applied(self, webhook_item(record)?, "attribute_not_exists(pk)").await
    }

    async fn get_webhook(&self, org: &OrgId, webhook_id: &WebhookId) -> Result<Option<WebhookRecord>, StoreError> {
        self.fetch(webhook_key(org, webhook_id)).await
    }

    async fn list_webhooks(&self, org: &OrgId) -> Result<Vec<WebhookRecord>, StoreError> {
        // Consistent: a create counts the org's webhooks again right after its own write.
        let items = self.org_items(org, "WEBHOOK#", true).await?;
        let mut found = items.into_iter().map(from_item).collect::<Result<Vec<WebhookRecord>, _>>()?;
        found.sort_by(|a, b| (a.created_at, &a.webhook_id).cmp(&(b.created_at, &b.webhook_id)));
        Ok(found)
    }

    async fn update_webhook(&self, record: &WebhookRecord) -> Result<bool, StoreError> {
        put_applied(self, webhook_item(record)?, "attribute_exists(pk)").await
    }

    async fn delete_webhook(&self, org: &OrgId, webhook_id: &WebhookId) -> Result<bool, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(webhook_key(org, webhook_id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.attributes.is_some_and(|old| !old.is_empty()))
    }
}
