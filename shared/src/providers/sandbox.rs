//! The sandbox provider: delivers nowhere, and fails on purpose for a few recipients (see contract.md).

use async_trait::async_trait;

use super::{DeliveryError, Provider, Receipt};
use crate::domain::message::MessageRecord;

/// Every attempt fails transiently.
pub const ALWAYS_TRANSIENT: &str = "15550000001";
/// The first attempt fails permanently.
pub const PERMANENT: &str = "15550000002";
/// Attempts 1 and 2 fail transiently, attempt 3 succeeds.
pub const TRANSIENT_TWICE: &str = "15550000003";

pub struct Sandbox;

#[async_trait]
impl Provider for Sandbox {
    async fn deliver(&self, message: &MessageRecord, attempt: u32) -> Result<Receipt, DeliveryError> {
        match message.chat_id.digits() {
            Some(ALWAYS_TRANSIENT) => Err(DeliveryError::Transient(format!(
                "sandbox: recipient {ALWAYS_TRANSIENT} is always temporarily unavailable (attempt {attempt})"
            ))),
            Some(PERMANENT) => {
                Err(DeliveryError::Permanent(format!("sandbox: recipient {PERMANENT} does not exist on WhatsApp")))
            }
            Some(TRANSIENT_TWICE) if attempt < 3 => Err(DeliveryError::Transient(format!(
                "sandbox: recipient {TRANSIENT_TWICE} is temporarily unavailable until attempt 3 (attempt {attempt})"
            ))),
            _ => Ok(Receipt { provider_message_id: format!("sandbox.{}", uuid::Uuid::new_v4().simple()) }),
        }
    }
}
