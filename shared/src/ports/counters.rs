//! The queue routes' counters: added to by the status-stream consumer, read by the routes.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::counters::{BroadcastTally, Changes, PhoneCounts, StreamSpan};
use crate::domain::ids::{BroadcastId, OrgId, PhoneId};
use crate::domain::time::Timestamp;

#[async_trait]
pub trait Counters: Send + Sync {
    /// Adds one stream window's `changes` (from `span`) to their counter items, each item at most
    /// once per span: an item whose watermark for the span's shard has reached the span skips it,
    /// so a retried window counts once. After an error some items may have taken the window in
    /// and others not; the retry adds it to the others only. `now` dates what may be pruned.
    async fn add(&self, span: &StreamSpan, changes: &Changes, now: Timestamp) -> Result<(), StoreError>;
    async fn phone_counts(&self, org: &OrgId, phone: &PhoneId, now: Timestamp) -> Result<PhoneCounts, StoreError>;
    async fn broadcast_tally(&self, org: &OrgId, broadcast: &BroadcastId) -> Result<BroadcastTally, StoreError>;
}
