//! Provider credentials, kept out of the table (AWS Secrets Manager in production).

use async_trait::async_trait;

use super::{Cause, cause};

#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretError {
    #[error("secret {0} not found")]
    NotFound(String),
    #[error("the secret store is unavailable ({context})")]
    Unavailable {
        context: String,
        #[source]
        source: Cause,
    },
}

impl SecretError {
    pub fn unavailable(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        SecretError::Unavailable { context: context.into(), source: cause(source) }
    }
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Stores `value` under `name`, creating or replacing it; returns the reference to keep (an ARN in AWS).
    async fn put(&self, name: &str, value: &str) -> Result<String, SecretError>;
    async fn get(&self, reference: &str) -> Result<String, SecretError>;
    /// Deletes at once, without a recovery window; deleting a missing secret is not an error.
    async fn delete(&self, reference: &str) -> Result<(), SecretError>;
}
