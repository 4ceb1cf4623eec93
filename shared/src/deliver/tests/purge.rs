//! A purge of a phone's whole queue reaches the messages its live index does not list (those due
//! at once) through the phone's purge marker, read after the attempt began.

use super::*;
use crate::ports::StoreError;
use crate::send::purge::{PurgeSelection, Purger};

fn purger(h: &Harness) -> Purger {
    Purger { tracking: h.store.clone(), clock: h.clock.clone() }
}

#[tokio::test]
async fn a_message_due_at_once_is_cancelled_by_its_delivery_after_a_phone_purge_and_never_sent() {
    let h = Harness::new();
    let (queue_id, job) = h.accept(NORMAL).await;
    // Not listed: the purge itself cancels nothing, it marks the phone.
    let cancelled = purger(&h).purge(h.org(), PurgeSelection::Phone(h.phone.phone_id.clone())).await.unwrap();
    assert_eq!(cancelled, 0);
    assert_eq!(h.record(&queue_id).await.status, Status::Queued);

    h.clock.advance(Duration::from_millis(5));
    assert!(h.receive(&job, 1).await.is_empty(), "acknowledged");
    let record = h.record(&queue_id).await;
    assert_eq!(h.calls(&queue_id), 0, "the provider was never called");
    assert_eq!((record.status, record.timeline.cancelled_at), (Status::Cancelled, Some(h.now())));
    assert_eq!(record.status_description.as_deref(), Some(crate::domain::message::PURGED));
    assert_eq!((record.attempts, record.attempt_log.len(), record.lease_until), (0, 0, None), "no attempt was made");
    // A second copy of the job finds it finished.
    assert!(h.receive(&job, 2).await.is_empty());
    assert_eq!(h.calls(&queue_id), 0);
}

#[tokio::test]
async fn a_message_accepted_after_the_purge_is_sent() {
    let h = Harness::new();
    purger(&h).purge(h.org(), PurgeSelection::Phone(h.phone.phone_id.clone())).await.unwrap();
    h.clock.advance(Duration::from_millis(1));
    let (queue_id, job) = h.accept(NORMAL).await;
    assert!(h.receive(&job, 1).await.is_empty());
    assert_eq!((h.record(&queue_id).await.status, h.calls(&queue_id)), (Status::Sent, 1));
}

#[tokio::test]
async fn a_marker_that_cannot_be_read_undoes_the_attempt_and_passes_the_job_on() {
    let h = Harness::new();
    let (queue_id, job) = h.accept(NORMAL).await;
    h.store.inject_fault("phone_purged_at", 0, 1, StoreError::unavailable("GetItem", "throttled"));
    assert!(h.receive(&job, 1).await.is_empty(), "passed on as a fresh copy, not failed");
    let record = h.record(&queue_id).await;
    assert_eq!((record.status, record.attempts, h.calls(&queue_id)), (Status::Queued, 0, 0));
    let again = h.take_jobs();
    assert_eq!(again.len(), 1, "a fresh copy of the job");
    // The next copy, once due, reads the marker (none) and sends.
    h.clock.advance(Duration::from_secs(60));
    assert!(h.receive(&again[0].encode(), 1).await.is_empty());
    assert_eq!((h.record(&queue_id).await.status, h.calls(&queue_id)), (Status::Sent, 1));
}

#[tokio::test]
async fn a_batch_reads_its_phones_marker_once_and_cancels_every_job_a_purge_came_before() {
    let h = Harness::new();
    let mut accepted = vec![];
    for _ in 0..10 {
        accepted.push(h.accept(NORMAL).await);
    }
    purger(&h).purge(h.org(), PurgeSelection::Phone(h.phone.phone_id.clone())).await.unwrap();
    h.clock.advance(Duration::from_millis(5));
    // One job that fails to decode is in the batch too: its ticket must not hold the others back.
    let mut records: Vec<_> =
        accepted.iter().enumerate().map(|(i, (_, job))| sqs_message(&format!("msg-{i}"), job, 1)).collect();
    records.push(sqs_message("msg-bad", "not a job", 1));
    assert!(failed_ids(&h.deliver(records).await).is_empty(), "all acknowledged, the bad one dead-lettered");
    for (queue_id, _) in &accepted {
        assert_eq!((h.record(queue_id).await.status, h.calls(queue_id)), (Status::Cancelled, 0));
    }
    assert_eq!(h.store.calls_of("phone_purged_at"), 1, "one read for the batch's one phone");
    assert_eq!(h.dead_letters().len(), 1);
}
