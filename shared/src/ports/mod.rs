//! The ports: what the domain needs from the outside world, as traits. Adapters implement them.

use std::sync::Arc;

mod clock;
mod counters;
mod events;
mod idempotency;
mod media;
mod queue;
mod rate_limit;
mod receipts;
mod secrets;
mod status;
mod tenants;
mod tracking;
mod uploads;
mod webhooks;

pub use clock::{Clock, SystemClock};
pub use counters::Counters;
pub use events::{DeadEvent, DeadEvents, EventQueue};
pub use idempotency::{Claim, IdempotencyRecord, IdempotencyStore};
pub use media::{MediaStore, ObjectInfo, PresignedPut};
pub use queue::JobQueue;
pub use rate_limit::RateCounter;
pub use receipts::ReceiptStore;
pub use secrets::{SecretError, SecretStore};
pub use status::{AttemptResult, BeginAttempt, Created, DeadLetterMark, StatusStore};
pub use tenants::TenantStore;
pub use tracking::{BroadcastRecord, EnqueueState, Redraw, Tracking};
pub use uploads::UploadStore;
pub use webhooks::WebhookStore;

/// An error from outside (an SDK's, a codec's), kept as the source of ours so logs show the chain.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// Wraps any error, or a plain message, as a `Cause`.
pub fn cause(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Cause {
    Arc::from(err.into())
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("the status store is unavailable ({context})")]
    Unavailable {
        context: String,
        #[source]
        source: Cause,
    },
    #[error("a stored record could not be read ({context})")]
    Corrupt {
        context: String,
        #[source]
        source: Cause,
    },
    /// The store refused the request as invalid because of what it was given (an item or key over
    /// DynamoDB's size limits): a retry fails the same way, so it is the client's error.
    #[error("the status store refused the request: {context}")]
    Rejected {
        context: String,
        #[source]
        source: Cause,
    },
}

impl StoreError {
    pub fn unavailable(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError::Unavailable { context: context.into(), source: cause(source) }
    }

    pub fn corrupt(context: impl Into<String>, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Corrupt { context: context.into(), source: cause(source) }
    }

    pub fn rejected(context: impl Into<String>, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Rejected { context: context.into(), source: cause(source) }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("the job queue is unavailable ({context})")]
pub struct QueueError {
    pub context: String,
    #[source]
    pub source: Cause,
}

impl QueueError {
    pub fn new(context: impl Into<String>, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        QueueError { context: context.into(), source: cause(source) }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("the media store is unavailable ({context})")]
pub struct MediaError {
    pub context: String,
    #[source]
    pub source: Cause,
}

impl MediaError {
    pub fn new(context: impl Into<String>, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        MediaError { context: context.into(), source: cause(source) }
    }
}
