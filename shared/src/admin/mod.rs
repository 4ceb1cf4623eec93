//! The administer flow: orgs, API keys, phones and dead-letter replay, shared by `outbox-admin`
//! and the local seed. Errors say what is wrong in domain terms; the CLI words its own advice.

mod keys;
mod orgs;
mod phones;
mod replay;

pub use keys::{create_key, list_keys, register_key, revoke_key};
pub use orgs::{create_org, ensure_org};
pub use phones::{
    DEFAULT_GRAPH_URL, DEFAULT_GRAPH_VERSION, ProviderInput, add_phone, list_phones, remove_phone, secret_name,
};
pub use replay::{ReplayReport, ReplaySelection, replay_dead_letters};

use crate::ports::{QueueError, SecretError, StoreError};
use crate::telemetry::chain;

/// Why an admin operation did not happen. An admin error is shown to a person as it is, so its
/// message carries the whole cause chain of a store's error (and it reports no source of its own).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{}; check that DynamoDB is reachable with these credentials, then try again", chain(.0))]
    Store(StoreError),
    #[error("{}; check that Secrets Manager is reachable with these credentials, then try again", chain(.0))]
    Secret(SecretError),
    #[error("{}; check that the jobs queue is reachable with these credentials, then try again", chain(.0))]
    Queue(QueueError),
}

impl From<StoreError> for AdminError {
    fn from(err: StoreError) -> Self {
        AdminError::Store(err)
    }
}

impl From<SecretError> for AdminError {
    fn from(err: SecretError) -> Self {
        AdminError::Secret(err)
    }
}

impl From<QueueError> for AdminError {
    fn from(err: QueueError) -> Self {
        AdminError::Queue(err)
    }
}

fn invalid(message: impl Into<String>) -> AdminError {
    AdminError::Invalid(message.into())
}

#[cfg(test)]
mod tests;
