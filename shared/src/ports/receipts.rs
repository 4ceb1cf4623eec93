//! What applying providers' delivery receipts needs from the store: the phone a provider's number
//! id belongs to, the message a provider message id belongs to, and the receipt's conditional write.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ids::{OrgId, QueueId};
use crate::domain::message::MessageRecord;
use crate::domain::receipt::ReceiptChange;
use crate::domain::tenant::Phone;

#[async_trait]
pub trait ReceiptStore: Send + Sync {
    /// The `whatsapp-cloud` phones with Meta's `phone_number_id` (one, unless two orgs registered
    /// the same number); every `whatsapp-cloud` phone when `None` (the verify-token handshake).
    async fn whatsapp_phones(&self, phone_number_id: Option<&str>) -> Result<Vec<Phone>, StoreError>;
    /// The message of `org` that `provider_message_id` names, if a real provider accepted it
    /// (the caller checks that it is the receipt's phone's).
    async fn find_by_provider_id(&self, org: &OrgId, provider_message_id: &str) -> Result<Option<QueueId>, StoreError>;
    /// Writes `change` to `current` (the record as read), conditional on the record still being
    /// as `change` found it; `false` when it was not (read it again and decide again).
    async fn apply_receipt(&self, current: &MessageRecord, change: &ReceiptChange) -> Result<bool, StoreError>;
}
