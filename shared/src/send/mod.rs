//! The send flow: accepting a message from any dialect (`enqueue`), a broadcast of many
//! (`broadcast`), the queue position a send answers with (`queue_depth`), cancelling queued
//! messages (`purge`), and staging files that sends name (`uploads`).

pub mod broadcast;
pub mod enqueue;
pub mod purge;
pub mod queue_depth;
pub mod uploads;

pub use broadcast::{BroadcastAccepted, Broadcaster};
pub use enqueue::{Accepted, EnqueueError, Enqueuer};
pub use purge::{PurgeSelection, Purger};
pub use queue_depth::QueueDepth;
pub use uploads::{PresignedUpload, UploadError, Uploads};
