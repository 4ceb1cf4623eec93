//! Orgs, API keys and phones.

use async_trait::async_trait;

use super::{DynamoStore, from_item, key, s, to_item, unavailable};
use crate::domain::tenant::{ApiKeyRecord, KeyHash, OrgId, Phone};
use crate::ports::{StoreError, TenantStore};

#[async_trait]
impl TenantStore for DynamoStore {
    async fn put_org(&self, org: &OrgId, name: &str, now: &str) -> Result<(), StoreError> {
        let mut item = key(format!("ORG#{org}"), "ORG");
        item.extend([
            ("org_id".to_string(), s(org.as_str())),
            ("name".to_string(), s(name)),
            ("created_at".to_string(), s(now)),
        ]);
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn put_api_key(&self, hash: &KeyHash, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut item = to_item(record)?;
        item.extend(key(format!("KEY#{}", hash.as_str()), "KEY"));
        item.insert("gsi1pk".into(), s(format!("KEYS#{}", record.org_id)));
        item.insert("gsi1sk".into(), s(&record.key_id));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn find_api_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("KEY#{}", hash.as_str()), "KEY")))
            .send()
            .await
            .map_err(unavailable)?;
        output.item.map(from_item).transpose()
    }

    async fn put_phone(&self, phone: &Phone) -> Result<(), StoreError> {
        let mut item = to_item(phone)?;
        item.extend(key(format!("ORG#{}", phone.org_id), &format!("PHONE#{}", phone.phone_id)));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn get_phone(&self, org: &OrgId, phone_id: &str) -> Result<Option<Phone>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("ORG#{org}"), &format!("PHONE#{phone_id}"))))
            .send()
            .await
            .map_err(unavailable)?;
        output.item.map(from_item).transpose()
    }

    async fn list_phones(&self, org: &OrgId) -> Result<Vec<Phone>, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :phone)")
            .expression_attribute_values(":pk", s(format!("ORG#{org}")))
            .expression_attribute_values(":phone", s("PHONE#"))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(unavailable)?;
        items.into_iter().map(from_item).collect()
    }
}
