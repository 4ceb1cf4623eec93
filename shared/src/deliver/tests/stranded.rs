//! The window between the job and its record: the API queues the job first and records the
//! message second, so a fault between the two leaves a job without a record, never a `queued`
//! record without a job.

use std::sync::atomic::Ordering;

use super::*;
use crate::ports::StoreError;
use crate::send::enqueue::RECORD_DEADLINE;

/// The jobs on the queue now, emptied.
fn take_jobs(h: &Harness) -> Vec<String> {
    std::mem::take(&mut *h.queue.jobs.lock().expect("lock"))
}

#[tokio::test]
async fn a_record_write_failing_after_the_enqueue_is_not_accepted_and_its_job_is_dropped_unsent() {
    let h = Harness::new();
    h.store.inject_fault("create", 0, 1, StoreError::unavailable("PutItem", "the API died here"));
    let body = json!({"chat_id": NORMAL, "message": "hello"}).to_string();
    let message = parse_send_request(body.as_bytes(), h.now()).expect("a valid request");
    assert!(h.enqueuer.enqueue_message(h.org(), &h.phone, message).await.is_err(), "not accepted: a 503");
    let jobs = take_jobs(&h);
    assert_eq!(jobs.len(), 1, "the job went out first");
    let job = Job::decode(&jobs[0]).expect("a job");
    assert!(h.store.get(h.org(), &job.queue_id).await.expect("memory store").is_none(), "no stranded record");

    // Within the deadline the consumer waits for the record, as a fresh message (no receive spent).
    assert!(h.receive(&jobs[0], 1).await.is_empty());
    let waiting = take_jobs(&h);
    assert_eq!(waiting.len(), 1);
    let again_at = h.now().plus(Duration::from_secs(2)).epoch_secs_ceil();
    assert_eq!(Job::decode(&waiting[0]).expect("a job").due_at, Some(again_at));
    // Past it, the job is dropped: nothing sent, nothing dead-lettered.
    h.clock.advance(RECORD_DEADLINE + Duration::from_secs(2));
    assert!(h.receive(&waiting[0], 1).await.is_empty());
    assert!(take_jobs(&h).is_empty() && h.dead_letters().is_empty());
    assert_eq!(h.calls(&job.queue_id), 0);
}

#[tokio::test]
async fn a_job_that_arrives_before_its_record_waits_for_it_and_is_then_sent_once() {
    let h = Harness::new();
    // The record's write is slow: the consumer sees the job first.
    h.store.inject_fault("create", 0, 1, StoreError::unavailable("PutItem", "slow"));
    let body = json!({"chat_id": NORMAL, "message": "hello"}).to_string();
    let message = parse_send_request(body.as_bytes(), h.now()).expect("a valid request");
    let _ = h.enqueuer.enqueue_message(h.org(), &h.phone, message.clone()).await;
    let early = take_jobs(&h).pop().expect("a job");
    assert!(h.receive(&early, 1).await.is_empty());
    let waiting = take_jobs(&h).pop().expect("passed on to wait");

    // Now a send whose write lands: its job, taken before the write, finds the record next time.
    let accepted = h.enqueuer.enqueue_message(h.org(), &h.phone, message).await.expect("accepted");
    let job = take_jobs(&h).pop().expect("its job");
    h.clock.advance(Duration::from_secs(2));
    assert!(h.receive(&job, 1).await.is_empty());
    assert_eq!((h.record(&accepted.queue_id).await.status, h.calls(&accepted.queue_id)), (Status::Sent, 1));
    // The first send's job, whose record never came, is still waiting and then dropped.
    assert!(h.receive(&waiting, 1).await.is_empty());
    h.clock.advance(RECORD_DEADLINE);
    let again = take_jobs(&h).pop().expect("waiting again");
    assert!(h.receive(&again, 1).await.is_empty());
    assert!(take_jobs(&h).is_empty() && h.dead_letters().is_empty());
}

#[tokio::test]
async fn an_enqueue_failure_records_nothing() {
    let h = Harness::new();
    h.queue.fail_enqueue.store(true, Ordering::Relaxed);
    let body = json!({"chat_id": NORMAL, "message": "hello"}).to_string();
    let message = parse_send_request(body.as_bytes(), h.now()).expect("a valid request");
    assert!(h.enqueuer.enqueue_message(h.org(), &h.phone, message).await.is_err());
    let live = crate::ports::Tracking::live_messages(h.store.as_ref(), h.org(), &h.phone.phone_id).await.unwrap();
    assert!(live.is_empty(), "{live:?}");
}

#[tokio::test]
async fn a_scheduled_job_that_arrives_before_its_record_hops_on_instead_of_dying() {
    let h = Harness::new();
    h.store.inject_fault("create", 0, 1, StoreError::unavailable("PutItem", "the API died here"));
    let due = h.now().plus(Duration::from_secs(3_600));
    let body = json!({"chat_id": NORMAL, "message": "later", "scheduled_at": due.to_string()}).to_string();
    let message = parse_send_request(body.as_bytes(), h.now()).expect("a valid request");
    assert!(h.enqueuer.enqueue_message(h.org(), &h.phone, message).await.is_err());
    let early = take_jobs(&h).pop().expect("the job went out first");

    // Not due and no record yet: within its record deadline it hops on as scheduled.
    assert!(h.receive(&early, 1).await.is_empty());
    let hopped = take_jobs(&h).pop().expect("passed on, not dead-lettered");
    assert!(h.dead_letters().is_empty());
    assert_eq!(Job::decode(&hopped).expect("a job").due_at, Job::decode(&early).expect("a job").due_at);
    // Past the deadline a record never came: dropped, neither sent nor dead-lettered.
    h.clock.advance(RECORD_DEADLINE + Duration::from_secs(2));
    assert!(h.receive(&hopped, 1).await.is_empty());
    assert!(take_jobs(&h).is_empty() && h.dead_letters().is_empty());
}
