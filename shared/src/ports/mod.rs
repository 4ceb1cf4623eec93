//! The ports: what the domain needs from the outside world, as traits. Adapters implement them.

mod idempotency;
mod media;
mod queue;
mod rate_limit;
mod secrets;
mod status;
mod tenants;
mod tracking;

pub use idempotency::{Claim, IdempotencyRecord, IdempotencyStore};
pub use media::MediaStore;
pub use queue::JobQueue;
pub use rate_limit::RateCounter;
pub use secrets::{SecretError, SecretStore};
pub use status::{AttemptResult, BeginAttempt, DeadLetterMark, StatusStore};
pub use tenants::TenantStore;
pub use tracking::{BroadcastRecord, EnqueueState, Tracking};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("the status store is unavailable: {0}")]
    Unavailable(String),
    #[error("a stored record could not be read: {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("the job queue is unavailable: {0}")]
pub struct QueueError(pub String);

#[derive(Debug, Clone, thiserror::Error)]
#[error("the media store is unavailable: {0}")]
pub struct MediaError(pub String);
