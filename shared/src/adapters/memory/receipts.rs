//! Receipts in memory: the same lookups and the same conditional write as the DynamoDB adapter.

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::domain::ids::{OrgId, QueueId};
use crate::domain::message::{MessageRecord, Status};
use crate::domain::receipt::ReceiptChange;
use crate::domain::tenant::{Phone, ProviderKind, ProviderSettings};
use crate::ports::{ReceiptStore, StoreError};

#[async_trait]
impl ReceiptStore for MemoryStore {
    async fn whatsapp_phones(&self, phone_number_id: Option<&str>) -> Result<Vec<Phone>, StoreError> {
        let phones = lock(&self.phones);
        let wanted = |phone: &&Phone| match &phone.provider {
            ProviderSettings::WhatsappCloud { phone_number_id: id, .. } => {
                phone_number_id.is_none_or(|want| want == id)
            }
            _ => false,
        };
        Ok(phones.iter().filter(wanted).cloned().collect())
    }

    async fn find_by_provider_id(&self, org: &OrgId, provider_message_id: &str) -> Result<Option<QueueId>, StoreError> {
        Ok(lock(&self.provider_ids).get(&(org.clone(), provider_message_id.to_string())).cloned())
    }

    async fn apply_receipt(&self, current: &MessageRecord, change: &ReceiptChange) -> Result<bool, StoreError> {
        self.fault("apply_receipt")?;
        let mut messages = lock(&self.messages);
        let Some(record) = messages.get_mut(&(current.org_id.clone(), current.queue_id.clone())) else {
            return Ok(false);
        };
        let same_message = record.provider_message_id.as_ref().is_none_or(|id| *id == change.provider_message_id);
        let same_attempt = change.from != Status::Sending || record.attempts == change.attempts;
        if record.status != change.from || !same_message || !same_attempt {
            return Ok(false);
        }
        change.apply_to(record);
        if record.provider != ProviderKind::Sandbox {
            let key = (record.org_id.clone(), change.provider_message_id.clone());
            lock(&self.provider_ids).insert(key, record.queue_id.clone());
        }
        Ok(true)
    }
}
