//! Purging: cancelling a caller's queued messages before they are sent. A purge and a delivery
//! race for the same conditional `queued →` transition, so a purged message is never sent;
//! messages already sending or finished are left alone.
//!
//! A purge of a phone's whole queue first moves the phone's purge marker to now, then cancels the
//! messages its live index lists (those scheduled ahead, `MessageRecord::waits_on_the_queue`). A
//! message due sooner is not listed, so that sending it costs no index write: its delivery reads the
//! marker after its `queued → sending` transition and cancels it instead of calling the provider.
//! Either the purge's marker write came first (the delivery sees it) or the transition did (the
//! message was sending when the purge ran, which a purge leaves alone), so none slips through.

use std::future::Future;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt, stream};
use tracing::info;

use crate::domain::ids::{OrgId, PhoneId, QueueId};
use crate::domain::message::{MessageRecord, Status};
use crate::ports::{BroadcastRecord, Clock, StoreError, Tracking};

/// Store calls in flight at once for one request: a purge of 1,000 must not open 1,000 connections.
const CONCURRENT_CALLS: usize = 8;

/// Runs `calls` at most `CONCURRENT_CALLS` at a time; the outputs come in completion order.
pub async fn bounded<F: Future>(calls: Vec<F>) -> Vec<F::Output> {
    stream::iter(calls).buffer_unordered(CONCURRENT_CALLS).collect().await
}

/// Like `bounded`, for calls that all must succeed: the first error ends the run, and no call
/// after it is started.
pub async fn bounded_all<T, E, F: Future<Output = Result<T, E>>>(
    calls: impl IntoIterator<Item = F>,
) -> Result<Vec<T>, E> {
    stream::iter(calls).buffer_unordered(CONCURRENT_CALLS).try_collect().await
}

/// Which messages to purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeSelection {
    /// These, already known to be the caller's.
    Messages(Vec<QueueId>),
    /// A broadcast's queued messages (its record, already known to be the caller's, names them).
    Broadcast(Box<BroadcastRecord>),
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
            PurgeSelection::Broadcast(broadcast) => queued(self.tracking.broadcast_messages(&broadcast).await?),
            PurgeSelection::Phone(phone_id) => {
                self.tracking.mark_phone_purged(org, &phone_id, self.clock.now()).await?;
                queued(self.tracking.live_messages(org, &phone_id).await?)
            }
        };
        let now = self.clock.now();
        let cancels: Vec<_> =
            queue_ids.iter().map(|id| async move { (id, self.tracking.cancel(org, id, now).await) }).collect();
        let mut cancelled = 0;
        for (queue_id, result) in bounded(cancels).await {
            // `false`: already sending or finished, which a purge leaves alone.
            if result? {
                cancelled += 1;
                info!(%queue_id, org_id = %org, outcome = "purged", status = "cancelled", "state change");
            }
        }
        Ok(cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{ManualClock, MemoryStore};
    use crate::domain::ids::UniqueId;
    use crate::domain::message::sending_fixture;
    use crate::domain::tenant::ProviderKind;
    use crate::ports::StatusStore;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn bounded_all_stops_starting_calls_after_the_first_error() {
        let started = AtomicUsize::new(0);
        let calls = (0..1_000).map(|i| {
            let started = &started;
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                if i == 0 { Err(i) } else { Ok(i) }
            }
        });
        assert_eq!(bounded_all(calls).await, Err(0));
        // The first batch in flight, and none after the error.
        assert!(started.load(Ordering::SeqCst) <= CONCURRENT_CALLS + 1, "{started:?} calls started");
        let mut all = bounded_all((0..20).map(|i| async move { Ok::<_, ()>(i) })).await.unwrap();
        all.sort_unstable();
        assert_eq!(all, (0..20).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn only_queued_messages_are_cancelled_and_the_phone_is_marked() {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::starting_now());
        let purger = Purger { tracking: store.clone(), clock: clock.clone() };
        let mut ids = vec![];
        // Scheduled ahead, so listed among the phone's live messages; the one due at once is not.
        for (status, ahead) in
            [(Status::Queued, 3600), (Status::Sending, 3600), (Status::Queued, 3600), (Status::Queued, 0)]
        {
            let mut record = MessageRecord {
                queue_id: QueueId::of(&UniqueId::generate()),
                status,
                ..sending_fixture("phone-a", ProviderKind::Sandbox, "hi")
            };
            record.scheduled_at = Some(record.timeline.queued_at.plus(std::time::Duration::from_secs(ahead)));
            store.create(&record).await.unwrap();
            ids.push(record.queue_id);
        }
        let (org, phone) = (OrgId::from("org-1"), PhoneId::from("phone-a"));
        assert_eq!(store.phone_purged_at(&org, &phone).await.unwrap(), None);
        assert_eq!(purger.purge(&org, PurgeSelection::Phone(phone.clone())).await.unwrap(), 2);
        assert_eq!(store.phone_purged_at(&org, &phone).await.unwrap(), Some(clock.now()));
        // The one due at once is left to its delivery, which finds the marker.
        assert_eq!(store.get(&org, &ids[3]).await.unwrap().unwrap().status, Status::Queued);
        let ids = ids[..3].to_vec();
        let cancelled = store.get(&org, &ids[0]).await.unwrap().unwrap();
        assert_eq!((cancelled.status, cancelled.timeline.cancelled_at), (Status::Cancelled, Some(clock.now())));
        assert_eq!(store.get(&org, &ids[1]).await.unwrap().unwrap().status, Status::Sending);
        assert_eq!(purger.purge(&org, PurgeSelection::Messages(ids)).await.unwrap(), 0, "nothing left to purge");
    }
}
