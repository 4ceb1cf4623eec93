//! AWS Secrets Manager: provider credentials, referenced from the table by ARN.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;

use super::aws::LazyClient;

use crate::ports::{SecretError, SecretStore};

#[derive(Clone, Debug)]
pub struct SecretsManager {
    client: LazyClient<Client>,
}

impl SecretsManager {
    pub fn new(client: impl Into<LazyClient<Client>>) -> SecretsManager {
        SecretsManager { client: client.into() }
    }
}

fn unavailable(err: impl std::error::Error + Send + Sync + 'static) -> SecretError {
    SecretError::unavailable("a Secrets Manager request failed", err)
}

#[async_trait]
impl SecretStore for SecretsManager {
    async fn put(&self, name: &str, value: &str) -> Result<String, SecretError> {
        match self.client.create_secret().name(name).secret_string(value).send().await {
            Ok(created) => Ok(created.arn.unwrap_or_else(|| name.to_string())),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_exists_exception()) => {
                let updated = self
                    .client
                    .put_secret_value()
                    .secret_id(name)
                    .secret_string(value)
                    .send()
                    .await
                    .map_err(unavailable)?;
                Ok(updated.arn.unwrap_or_else(|| name.to_string()))
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn get(&self, reference: &str) -> Result<String, SecretError> {
        match self.client.get_secret_value().secret_id(reference).send().await {
            Ok(output) => output.secret_string.ok_or_else(|| SecretError::NotFound(reference.to_string())),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {
                Err(SecretError::NotFound(reference.to_string()))
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn delete(&self, reference: &str) -> Result<(), SecretError> {
        match self.client.delete_secret().secret_id(reference).force_delete_without_recovery(true).send().await {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(()),
            Err(err) => Err(unavailable(err)),
        }
    }
}
