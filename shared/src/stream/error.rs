//! Why a stream invocation failed: a store or the events queue was unavailable. Lambda retries
//! the invocation whole; everything it does is safe to do again.

use crate::ports::{QueueError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}
