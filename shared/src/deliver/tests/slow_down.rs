//! A provider's "slow down" (HTTP 429, Meta 130429 / 131056): the job waits without using one of
//! the message's attempts, a bounded number of times; and the metric lines each outcome writes.

use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::deliver::{MAX_SLOW_DOWN_WAIT, MAX_SLOW_DOWNS, slow_down_wait};
use crate::providers::sandbox;

/// The app's metric lines so far, parsed.
fn metric_lines(app: &Harness) -> Vec<Value> {
    app.delivery.metrics.lines().iter().map(|line| serde_json::from_str(line).expect("one JSON object")).collect()
}

/// The lines that carry `metric`.
fn with_metric(app: &Harness, metric: &str) -> Vec<Value> {
    metric_lines(app).into_iter().filter(|line| line.get(metric).is_some()).collect()
}

/// Receives `job` until the provider stops asking to slow down, moving the clock past each
/// wait; returns the slow-downs waited out and the last receive's failed message ids.
async fn deliver_through_slow_downs(app: &Harness, mut job: String) -> (u32, Vec<String>) {
    let mut waited = 0;
    loop {
        let count = Job::decode(&job).expect("a job").slow_downs;
        let failed = app.receive(&job, 1).await;
        let mut fresh = app.take_jobs();
        let Some(next) = fresh.pop() else { return (waited, failed) };
        assert!(
            fresh.is_empty() && failed.is_empty(),
            "a slow-down passes one fresh copy on and acknowledges this one"
        );
        waited += 1;
        assert_eq!(next.slow_downs, count + 1, "the fresh copy counts its slow-downs");
        let due = next.due_at.expect("a fresh copy is due after the wait");
        app.clock.set(Timestamp::from_epoch_secs(due).expect("a time"));
        job = next.encode();
    }
}

#[tokio::test]
async fn a_provider_answering_429_three_times_then_200_ends_sent_with_one_attempt() {
    let provider = CountingSandbox { slow_downs: 3, retry_after: Some(Duration::from_secs(7)), ..Default::default() };
    let app = Harness::with_provider(provider);
    let (queue_id, job) = app.accept(NORMAL).await;
    let started = app.now();

    assert!(app.receive(&job, 1).await.is_empty());
    // The first slow-down: the attempt is undone and a fresh copy waits the provider's Retry-After.
    let record = app.record(&queue_id).await;
    assert_eq!((record.status, record.attempts, record.attempt_log.len()), (Status::Queued, 0, 0), "{record:?}");
    assert!(record.lease_until.is_none());
    let fresh = app.take_jobs();
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].due_at, Some(started.plus(Duration::from_secs(7)).epoch_secs_ceil()));
    app.clock.set(Timestamp::from_epoch_secs(fresh[0].due_at.unwrap()).unwrap());

    let (waited, failed) = deliver_through_slow_downs(&app, fresh[0].encode()).await;
    assert_eq!((waited, failed.len()), (2, 0), "two more slow-downs, then sent");
    let record = app.record(&queue_id).await;
    assert_eq!(record.status, Status::Sent);
    assert_eq!((record.attempts, outcomes(&record)), (1, vec![Some(AttemptOutcome::Sent)]));
    assert_eq!(app.calls(&queue_id), 4);
    assert!(app.visibility_changes().is_empty() && app.dead_letters().is_empty());

    let slowed = with_metric(&app, "SlowedDown");
    assert_eq!(slowed.len(), 3);
    assert!(slowed.iter().all(|line| line["Outcome"] == "slow_down" && line["Provider"] == "sandbox"));
    let sent = with_metric(&app, "Sent");
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0]["Attempts"].as_f64(), sent[0]["Outcome"].as_str()), (Some(1.0), Some("sent")));
    // Accepted at `started`, sent after three waits of 7 s.
    assert!(sent[0]["EndToEnd"].as_f64().is_some_and(|ms| ms >= 21_000.0), "{}", sent[0]);
}

#[tokio::test]
async fn a_provider_that_always_slows_down_still_ends_the_message_after_the_bound_and_three_attempts() {
    let app = Harness::with_provider(CountingSandbox { slow_downs: u32::MAX, ..Default::default() });
    let (queue_id, job) = app.accept(NORMAL).await;
    let (waited, failed) = deliver_through_slow_downs(&app, job).await;
    assert_eq!((waited, failed), (MAX_SLOW_DOWNS, vec!["msg-1".to_string()]));
    // Past the bound, each slow-down is a transient failure: retried on the same copy, twice, then failed.
    let record = app.record(&queue_id).await;
    assert_eq!((record.status, record.attempts), (Status::Queued, 1), "{record:?}");
    assert!(record.attempt_log[0].error.as_deref().is_some_and(|e| e.contains("counts as an attempt")), "{record:?}");
    let last = Job { slow_downs: MAX_SLOW_DOWNS, ..Job::for_record(&record) }.encode();
    assert_eq!(app.receive(&last, 2).await, ["msg-1"]);
    assert!(app.receive(&last, 3).await.is_empty(), "the third attempt dead-letters the job");
    let record = app.record(&queue_id).await;
    assert_eq!((record.status, record.attempts), (Status::Failed, 3));
    assert_eq!(app.dead_letters().len(), 1);
    assert_eq!(app.calls(&queue_id), MAX_SLOW_DOWNS + 3);
}

#[test]
fn a_slow_down_waits_the_retry_after_or_the_backoff_between_a_second_and_fifteen_minutes() {
    let retry = RetryPolicy { base: Duration::from_secs(10) };
    assert_eq!(slow_down_wait(Some(Duration::from_secs(30)), retry, 1), Duration::from_secs(30));
    assert_eq!(slow_down_wait(Some(Duration::from_secs(7200)), retry, 1), MAX_SLOW_DOWN_WAIT);
    assert_eq!(slow_down_wait(Some(Duration::ZERO), retry, 1), Duration::from_secs(1));
    for _ in 0..50 {
        let third = slow_down_wait(None, retry, 3).as_secs();
        assert!((32..=48).contains(&third), "40 s ± 20%: {third}");
        assert_eq!(slow_down_wait(None, retry, 12), MAX_SLOW_DOWN_WAIT);
    }
}

// --- the metric lines of each outcome ---

#[tokio::test]
async fn sent_failed_and_retried_messages_write_their_metric_lines() {
    let app = Harness::new();
    let (_, sent) = app.accept(NORMAL).await;
    let (_, permanent) = app.accept(sandbox::PERMANENT).await;
    let (_, twice) = app.accept(sandbox::TRANSIENT_TWICE).await;
    app.receive(&sent, 1).await;
    app.receive(&permanent, 1).await;
    for receive in 1..=3 {
        app.receive(&twice, receive).await;
    }
    let lines = metric_lines(&app);
    let summary: Vec<(String, Option<f64>)> = lines
        .iter()
        .map(|line| {
            let name = ["Sent", "Failed", "Retried"].into_iter().find(|name| line.get(*name).is_some()).unwrap_or("?");
            (format!("{name}/{}", line["Outcome"].as_str().unwrap_or("")), line["Attempts"].as_f64())
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("Sent/sent".to_string(), Some(1.0)),
            ("Failed/permanent_error".to_string(), Some(1.0)),
            ("Retried/transient_error".to_string(), None),
            ("Retried/transient_error".to_string(), None),
            ("Sent/sent".to_string(), Some(3.0)),
        ]
    );
    for line in &lines {
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Outbox/test");
        assert_eq!(directive["Dimensions"], serde_json::json!([[], ["Provider", "Outcome"]]));
        assert!(line["ProviderLatency"].as_f64().is_some_and(|ms| ms >= 0.0), "{line}");
        assert!(line.get("org_id").is_none() && line.get("chat_id").is_none(), "no customer in a metric: {line}");
    }
    let accepted = app.enqueuer.metrics.lines();
    assert_eq!(accepted.len(), 3, "one Accepted line per message");
    assert!(accepted.iter().all(|line| line.contains(r#""Accepted":1.0"#)), "{accepted:?}");
}

#[tokio::test]
async fn a_dead_letter_arrival_is_counted_and_a_message_it_fails_counts_as_failed() {
    let app = Harness::new();
    let (queue_id, job) = app.accept(NORMAL).await;
    let dead = app.dead_letter_handler();
    crate::deliver::dead_letter::handle_batch(&dead, event(vec![sqs_message("dlq-1", &job, 1)])).await;
    assert_eq!(app.record(&queue_id).await.status, Status::Failed);
    let lines = with_metric(&app, "DeadLettered");
    assert_eq!(lines.len(), 1);
    assert_eq!((lines[0]["Outcome"].as_str(), lines[0]["Failed"].as_f64()), (Some("dead_lettered"), Some(1.0)));
    assert!(lines[0].get("Provider").is_none());
}
