//! `Providers`: the provider for each message, the shared sandbox or the phone's own account on
//! a real provider, built once per process.

use std::sync::Arc;

use super::credentials::Credentials;
use super::sandbox::Sandbox;
use super::{DeliveryError, Provider, Receipt};
use crate::domain::message::MessageRecord;
use crate::domain::tenant::ProviderKind;

/// Finds the provider for each message, built once per process: the shared sandbox, or the
/// phone's own account on a real provider.
#[derive(Clone)]
pub struct Providers {
    sandbox: Arc<dyn Provider>,
    credentials: Option<Arc<Credentials>>,
}

impl Providers {
    /// Only the sandbox; `with_credentials` adds the real providers.
    pub fn new(sandbox: Arc<dyn Provider>) -> Providers {
        Providers { sandbox, credentials: None }
    }

    /// The real sandbox; `wiring::delivery` adds the deployment's phone credentials.
    pub fn standard() -> Providers {
        Providers::new(Arc::new(Sandbox))
    }

    pub fn with_credentials(self, credentials: Credentials) -> Providers {
        Providers { credentials: Some(Arc::new(credentials)), ..self }
    }

    /// Delivers through the provider the message was queued for.
    pub async fn deliver(&self, message: &MessageRecord, attempt: u32) -> Result<Receipt, DeliveryError> {
        // The sandbox needs no account, so sandbox messages cost no phone or secret lookup.
        if message.provider == ProviderKind::Sandbox {
            return self.sandbox.deliver(message, attempt).await;
        }
        let Some(credentials) = &self.credentials else {
            return Err(DeliveryError::Permanent(format!(
                "{}: this process has no account store to find the phone's credentials in",
                message.provider.as_str()
            )));
        };
        credentials.provider_for(message).await?.deliver(message, attempt).await
    }
}
