//! A batch's reads of its phones' purge markers: one consistent read per phone per batch instead
//! of one per job. A purge moves the marker before it cancels anything, and a delivery must read
//! the marker after its own `queued → sending` transition (see `send::purge`), so a read can only
//! stand for the jobs whose transitions finished before it started. The batch's jobs therefore
//! wait for each other: each holds a `Ticket`, and the reads start once every ticket has been
//! used (the job has begun its attempt and wants its phone's marker) or dropped (the job ended
//! without an attempt, whatever the path). Every begin is bounded by the store's timeouts, so the
//! wait is too; a batch of one reads as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use tokio::sync::{Notify, OnceCell};

use crate::domain::ids::{OrgId, PhoneId};
use crate::domain::time::Timestamp;
use crate::ports::{StatusStore, StoreError};

type Phone = (OrgId, PhoneId);
type Marker = Result<Option<Timestamp>, StoreError>;

/// The purge-marker reads of one batch of `jobs` jobs.
pub struct PurgeMarkers {
    store: Arc<dyn StatusStore>,
    state: Mutex<State>,
    all_in: Notify,
    read: OnceCell<HashMap<Phone, Marker>>,
}

struct State {
    /// Tickets neither used nor dropped yet.
    outstanding: usize,
    wanted: Vec<Phone>,
}

impl PurgeMarkers {
    /// One ticket per job of a batch of `jobs`, sharing the batch's reads.
    pub fn for_batch(store: Arc<dyn StatusStore>, jobs: usize) -> Vec<Ticket> {
        let markers = Arc::new(PurgeMarkers {
            store,
            state: Mutex::new(State { outstanding: jobs, wanted: Vec::new() }),
            all_in: Notify::new(),
            read: OnceCell::new(),
        });
        (0..jobs).map(|_| Ticket { markers: Some(markers.clone()) }).collect()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One ticket is in, wanting `phone`'s marker or nothing; the last one wakes the waiters.
    fn check_in(&self, phone: Option<Phone>) {
        let mut state = self.state();
        if let Some(phone) = phone {
            if !state.wanted.contains(&phone) {
                state.wanted.push(phone);
            }
        }
        state.outstanding = state.outstanding.saturating_sub(1);
        if state.outstanding == 0 {
            self.all_in.notify_waiters();
        }
    }

    async fn marker(&self, phone: &Phone) -> Marker {
        loop {
            // Registered before the check, so a last check-in between the two is not missed.
            let notified = self.all_in.notified();
            if self.state().outstanding == 0 {
                break;
            }
            notified.await;
        }
        let markers = self
            .read
            .get_or_init(|| async {
                let wanted = self.state().wanted.clone();
                let reads = wanted.iter().map(|(org, phone)| self.store.phone_purged_at(org, phone));
                wanted.iter().cloned().zip(join_all(reads).await).collect()
            })
            .await;
        markers.get(phone).cloned().unwrap_or_else(|| Err(StoreError::corrupt("a purge marker", "not read")))
    }
}

/// One job's place in its batch's marker reads. Dropped unused, it stops holding the reads back.
pub struct Ticket {
    markers: Option<Arc<PurgeMarkers>>,
}

impl Ticket {
    /// When `phone`'s queue was last purged, read after every job of the batch has begun its
    /// attempt or ended without one. Call it after this job's attempt began.
    pub async fn purged_at(mut self, org: &OrgId, phone: &PhoneId) -> Marker {
        let markers = self.markers.take().expect("a ticket is used once");
        let phone = (org.clone(), phone.clone());
        markers.check_in(Some(phone.clone()));
        markers.marker(&phone).await
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(markers) = self.markers.take() {
            markers.check_in(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::ports::Tracking;

    fn phone(id: &str) -> (OrgId, PhoneId) {
        (OrgId::from("org-a"), PhoneId::from(id))
    }

    #[tokio::test]
    async fn a_batch_reads_each_phones_marker_once_after_every_job_has_checked_in() {
        let store = Arc::new(MemoryStore::default());
        let mut tickets = PurgeMarkers::for_batch(store.clone(), 4);
        let (a, b) = (phone("phone-a"), phone("phone-b"));
        let (first, second, third, last) =
            (tickets.pop().unwrap(), tickets.pop().unwrap(), tickets.pop().unwrap(), tickets.pop().unwrap());
        let (a2, b2) = (a.clone(), b.clone());
        let waiting = tokio::spawn(async move {
            tokio::join!(first.purged_at(&a2.0, &a2.1), second.purged_at(&a2.0, &a2.1), third.purged_at(&b2.0, &b2.1))
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "a job has not begun yet: nothing is read");
        assert_eq!(store.calls_of("phone_purged_at"), 0);
        // The last job is purged meanwhile: the reads that start now see it.
        let purged = Timestamp::parse("2026-12-01T10:00:00Z").unwrap();
        store.mark_phone_purged(&a.0, &a.1, purged).await.unwrap();
        drop(last);
        let (first, second, third) = waiting.await.unwrap();
        assert_eq!((first.unwrap(), second.unwrap(), third.unwrap()), (Some(purged), Some(purged), None));
        assert_eq!(store.calls_of("phone_purged_at"), 2, "one read per phone");
    }

    #[tokio::test]
    async fn a_failed_read_fails_every_job_of_that_phone_and_a_lone_ticket_reads_at_once() {
        let store = Arc::new(MemoryStore::default());
        store.inject_fault("phone_purged_at", 0, 1, StoreError::unavailable("GetItem", "throttled"));
        let mut tickets = PurgeMarkers::for_batch(store.clone(), 2);
        let a = phone("phone-a");
        let (one, two) =
            tokio::join!(tickets.pop().unwrap().purged_at(&a.0, &a.1), tickets.pop().unwrap().purged_at(&a.0, &a.1));
        assert!(one.is_err() && two.is_err());
        let alone = PurgeMarkers::for_batch(store.clone(), 1).remove(0).purged_at(&a.0, &a.1).await;
        assert_eq!(alone.unwrap(), None);
        assert_eq!(store.calls_of("phone_purged_at"), 2);
    }
}
