//! Purging: cancelling a caller's queued messages before they are sent. A purge and a delivery
//! race for the same conditional `queued →` transition, so a purged message is never sent;
//! messages already sending or finished are left alone.

use std::future::Future;
use std::sync::Arc;

use futures_util::{StreamExt, stream};

use crate::domain::ids::{BroadcastId, OrgId, PhoneId, QueueId};
use crate::domain::message::{MessageRecord, Status};
use crate::ports::{Clock, StoreError, Tracking};

/// Store calls in flight at once for one request: a purge of 1,000 must not open 1,000 connections.
const CONCURRENT_CALLS: usize = 8;

/// Runs `calls` at most `CONCURRENT_CALLS` at a time; the outputs come in completion order.
pub async fn bounded<F: Future>(calls: Vec<F>) -> Vec<F::Output> {
    stream::iter(calls).buffer_unordered(CONCURRENT_CALLS).collect().await
}

/// Which messages to purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeSelection {
    /// These, already known to be the caller's.
    Messages(Vec<QueueId>),
    /// A broadcast's queued messages.
    Broadcast(BroadcastId),
    /// Every queued message of a phone.
    Phone(PhoneId),
}

#[derive(Clone)]
pub struct Purger {
    pub tracking: Arc<dyn Tracking>,
    pub clock: Arc<dyn Clock>,
}

impl Purger {
    /// Cancels what `selection` names; returns how many messages it cancelled.
    pub async fn purge(&self, org: &OrgId, selection: PurgeSelection) -> Result<usize, StoreError> {
        let queued = |records: Vec<MessageRecord>| -> Vec<QueueId> {
            records.into_iter().filter(|m| m.status == Status::Queued).map(|m| m.queue_id).collect()
        };
        let queue_ids = match selection {
            PurgeSelection::Messages(queue_ids) => queue_ids,
            PurgeSelection::Broadcast(broadcast_id) => {
                queued(self.tracking.broadcast_messages(org, &broadcast_id).await?)
            }
            PurgeSelection::Phone(phone_id) => queued(self.tracking.live_messages(org, &phone_id).await?),
        };
        let now = self.clock.now();
        let cancels: Vec<_> = queue_ids.iter().map(|id| self.tracking.cancel(org, id, now)).collect();
        let mut cancelled = 0;
        for result in bounded(cancels).await {
            // `false`: already sending or finished, which a purge leaves alone.
            cancelled += usize::from(result?);
        }
        Ok(cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{ManualClock, MemoryStore};
    use crate::domain::message::sending_fixture;
    use crate::domain::tenant::ProviderKind;
    use crate::ports::StatusStore;

    #[tokio::test]
    async fn only_queued_messages_are_cancelled() {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::starting_now());
        let purger = Purger { tracking: store.clone(), clock: clock.clone() };
        let mut ids = vec![];
        for status in [Status::Queued, Status::Sending, Status::Queued] {
            let record = MessageRecord {
                queue_id: QueueId::generate(),
                status,
                ..sending_fixture("phone-a", ProviderKind::Sandbox, "hi")
            };
            store.create(&record).await.unwrap();
            ids.push(record.queue_id);
        }
        let org = OrgId::from("org-1");
        assert_eq!(purger.purge(&org, PurgeSelection::Phone(PhoneId::from("phone-a"))).await.unwrap(), 2);
        let cancelled = store.get(&org, &ids[0]).await.unwrap().unwrap();
        assert_eq!((cancelled.status, cancelled.timeline.cancelled_at), (Status::Cancelled, Some(clock.now())));
        assert_eq!(store.get(&org, &ids[1]).await.unwrap().unwrap().status, Status::Sending);
        assert_eq!(purger.purge(&org, PurgeSelection::Messages(ids)).await.unwrap(), 0, "nothing left to purge");
    }
}
