//! The send flow: accepting a message (`enqueue`), a broadcast of many (`broadcast`), the queue
//! position a send answers with (`queue_depth`), and cancelling queued messages (`purge`).

pub mod broadcast;
pub mod enqueue;
pub mod purge;
pub mod queue_depth;

pub use broadcast::Broadcaster;
pub use enqueue::{Accepted, EnqueueError, Enqueuer};
pub use purge::{PurgeSelection, Purger};
pub use queue_depth::QueueDepth;
