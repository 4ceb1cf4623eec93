//! Providers: whoever finally hands a message to WhatsApp (or, for `sandbox`, pretends to).

pub mod sandbox;

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::message::MessageRecord;
use crate::domain::tenant::ProviderKind;

/// The provider accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub provider_message_id: String,
}

/// Why a provider did not take a message; the variant alone decides whether it is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
}

#[async_trait]
pub trait Provider: Send + Sync {
    /// Delivers `message`; `attempt` counts from 1.
    async fn deliver(&self, message: &MessageRecord, attempt: u32) -> Result<Receipt, DeliveryError>;
}

/// The provider for each kind, built once per process.
#[derive(Clone)]
pub struct Providers {
    sandbox: Arc<dyn Provider>,
}

impl Providers {
    pub fn new(sandbox: Arc<dyn Provider>) -> Providers {
        Providers { sandbox }
    }

    /// The standard set: every kind backed by its real implementation.
    pub fn standard() -> Providers {
        Providers::new(Arc::new(sandbox::Sandbox))
    }

    pub fn for_kind(&self, kind: ProviderKind) -> &dyn Provider {
        match kind {
            ProviderKind::Sandbox => self.sandbox.as_ref(),
            // Interim until the real providers land in this change set.
            ProviderKind::WhatsappCloud | ProviderKind::Http => &Unavailable,
        }
    }
}

struct Unavailable;

#[async_trait]
impl Provider for Unavailable {
    async fn deliver(&self, message: &MessageRecord, _attempt: u32) -> Result<Receipt, DeliveryError> {
        Err(DeliveryError::Permanent(format!("provider {} is not available in this build", message.provider.as_str())))
    }
}
