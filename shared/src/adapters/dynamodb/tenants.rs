//! Orgs, API keys and phones.

use async_trait::async_trait;

use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::indexes::{GSI1, PK, SK};
use super::{DynamoStore, condition_failure, from_item, key, s, to_item, unavailable};
use crate::domain::ids::{OrgId, PhoneId};
use crate::domain::tenant::{ApiKeyRecord, KeyHash, Org, Phone, ProviderSettings};
use crate::domain::time::Timestamp;
use crate::ports::{StoreError, TenantStore};

/// The gsi1 partition of every `whatsapp-cloud` phone (a rare write: `phone add`).
pub(super) const WHATSAPP_PHONES: &str = "WAPHONES";

/// A `whatsapp-cloud` phone's gsi1 sort key: Meta's number id first, so one number's phones are a prefix.
pub(super) fn whatsapp_phone_sort(phone_number_id: &str, org: &OrgId, phone: &PhoneId) -> String {
    format!("{phone_number_id}#{org}#{phone}")
}

#[async_trait]
impl TenantStore for DynamoStore {
    async fn put_org(&self, org: &OrgId, name: &str, now: Timestamp) -> Result<(), StoreError> {
        let mut item = key(format!("ORG#{org}"), "ORG");
        item.extend([
            ("org_id".to_string(), s(org.as_str())),
            ("name".to_string(), s(name)),
            ("created_at".to_string(), s(now.to_string())),
        ]);
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn get_org(&self, org: &OrgId) -> Result<Option<Org>, StoreError> {
        self.fetch(key(format!("ORG#{org}"), "ORG")).await
    }

    async fn put_api_key(&self, hash: &KeyHash, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut item = to_item(record)?;
        item.extend(key(format!("KEY#{}", hash.as_str()), "KEY"));
        item.insert(GSI1.pk.into(), s(format!("KEYS#{}", record.org_id)));
        item.insert(GSI1.sk.into(), s(&record.key_id));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn find_api_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.fetch(key(format!("KEY#{}", hash.as_str()), "KEY")).await
    }

    async fn list_api_keys(&self, org: &OrgId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let items = self.query_index(GSI1, format!("KEYS#{org}"), None).await?;
        items.into_iter().map(from_item).collect()
    }

    async fn revoke_api_key(
        &self,
        org: &OrgId,
        key_id: &str,
        now: Timestamp,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        // The item is keyed by the key's hash, which only the index on (org, key_id) leads to.
        let found = self
            .index_query(GSI1, format!("KEYS#{org}"))
            .key_condition_expression("#pk = :pk AND #sk = :key_id")
            .expression_attribute_names("#sk", GSI1.sk)
            .expression_attribute_values(":key_id", s(key_id))
            .send()
            .await
            .map_err(unavailable)?;
        let Some(pk) = found.items.unwrap_or_default().into_iter().find_map(|mut item| item.remove(PK)) else {
            return Ok(None);
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, pk)
            .key(SK, s("KEY"))
            .update_expression("SET revoked_at = :now")
            // An unrevoked key stores `revoked_at` as NULL.
            .condition_expression(
                "attribute_exists(pk) AND org_id = :org AND \
                 (attribute_not_exists(revoked_at) OR attribute_type(revoked_at, :null))",
            )
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":org", s(org.as_str()))
            .expression_attribute_values(":null", s("NULL"))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => from_item(output.attributes.unwrap_or_default()).map(Some),
            // Revoked before (its first time is kept), or deleted meanwhile.
            Err(err) => match condition_failure(err)?.map(from_item::<ApiKeyRecord>).transpose()? {
                Some(record) if &record.org_id == org => Ok(Some(record)),
                _ => Ok(None),
            },
        }
    }

    async fn put_phone(&self, phone: &Phone) -> Result<(), StoreError> {
        let mut item = to_item(phone)?;
        item.extend(key(format!("ORG#{}", phone.org_id), &format!("PHONE#{}", phone.phone_id)));
        if let ProviderSettings::WhatsappCloud { phone_number_id, .. } = &phone.provider {
            // Meta's receipts name the phone by its number id only (`whatsapp_phones`).
            item.insert(GSI1.pk.into(), s(WHATSAPP_PHONES));
            item.insert(GSI1.sk.into(), s(whatsapp_phone_sort(phone_number_id, &phone.org_id, &phone.phone_id)));
        }
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn get_phone(&self, org: &OrgId, phone_id: &PhoneId) -> Result<Option<Phone>, StoreError> {
        self.fetch(key(format!("ORG#{org}"), &format!("PHONE#{phone_id}"))).await
    }

    async fn list_phones(&self, org: &OrgId) -> Result<Vec<Phone>, StoreError> {
        self.org_items(org, "PHONE#", false).await?.into_iter().map(from_item).collect()
    }

    async fn delete_phone(&self, org: &OrgId, phone_id: &PhoneId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("ORG#{org}"), &format!("PHONE#{phone_id}"))))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
