//! The status-stream handler over in-memory counters: windows, retries, deletions.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::TimeWindowEvent;
use serde_json::{Value, json};

use super::*;
use crate::adapters::memory::{ManualClock, MemoryStore};
use crate::domain::counters::{CounterItem, PhoneCounts, hour_of};
use crate::domain::ids::{OrgId, PhoneId};
use crate::domain::message::{MessageRecord, Status, sending_fixture};
use crate::domain::tenant::ProviderKind;
use crate::ports::StatusStore;

const SHARD: &str = "shardId-00000001541626099285-f35f62ef";

fn at(raw: &str) -> Timestamp {
    Timestamp::parse(raw).unwrap()
}

fn org() -> OrgId {
    OrgId::from("org-1")
}

fn phone() -> PhoneId {
    PhoneId::from("phone-a")
}

fn record(status: Status) -> MessageRecord {
    let mut record = MessageRecord { status, ..sending_fixture("phone-a", ProviderKind::Sandbox, "hi") };
    record.timeline.queued_at = at("2026-03-01T10:00:00Z");
    if status == Status::Sent {
        record.timeline.sent_at = Some(at("2026-03-01T10:00:01Z"));
    }
    record
}

/// One stream record of a message item, as Lambda hands it over.
fn change(sequence: u64, old: Option<&MessageRecord>, new: Option<&MessageRecord>) -> Value {
    let image = |r: Option<&MessageRecord>| {
        r.map(|r| serde_json::to_value(serde_dynamo::to_item::<_, serde_dynamo::Item>(r).unwrap()).unwrap())
    };
    let name = match (old, new) {
        (None, _) => "INSERT",
        (_, None) => "REMOVE",
        _ => "MODIFY",
    };
    let mut dynamodb = json!({
        "Keys": {"pk": {"S": "MSG#org-1#q-1"}, "sk": {"S": "MSG"}},
        "SequenceNumber": format!("1100000000017454423{sequence:03}"),
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
        "ApproximateCreationDateTime": 1_772_359_200.0,
    });
    if let Some(image) = image(old) {
        dynamodb["OldImage"] = image;
    }
    if let Some(image) = image(new) {
        dynamodb["NewImage"] = image;
    }
    json!({"eventID": format!("e{sequence}"), "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
           "awsRegion": "us-east-1", "dynamodb": dynamodb, "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/t/stream/x"})
}

fn window(records: Vec<Value>, state: &HashMap<String, String>, start: &str, last: bool) -> TimeWindowEvent {
    serde_json::from_value(json!({
        "Records": records,
        "window": {"start": start, "end": "2026-03-01T10:00:10Z"},
        "state": state,
        "shardId": SHARD,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/t/stream/x",
        "isFinalInvokeForWindow": last,
        "isWindowTerminatedEarly": false,
    }))
    .expect("a tumbling-window event")
}

struct Harness {
    store: Arc<MemoryStore>,
    stream: StatusStream,
    clock: Arc<ManualClock>,
}

fn harness() -> Harness {
    let store = Arc::new(MemoryStore::default());
    let clock = Arc::new(ManualClock::at(at("2026-03-01T10:00:30Z")));
    let stream = StatusStream { counters: store.clone(), clock: clock.clone(), sandbox_receipts: None, events: None };
    Harness { store, stream, clock }
}

impl Harness {
    async fn counts(&self) -> PhoneCounts {
        self.store.phone_counts(&org(), &phone(), self.clock.now()).await.unwrap()
    }
}

#[tokio::test]
async fn a_window_carries_its_state_and_adds_it_once_at_its_end() {
    let h = harness();
    let (queued, sending, sent) = (record(Status::Queued), record(Status::Sending), record(Status::Sent));
    let first = window(vec![change(1, None, Some(&queued))], &HashMap::new(), "2026-03-01T10:00:00Z", false);
    let response = handle_window(&h.stream, first).await.unwrap();
    let state = response.time_window_event_response_properties.state;
    assert!(state.contains_key(STATE_KEY));
    assert_eq!(h.counts().await, PhoneCounts::default(), "nothing is written before the window ends");
    let last = window(
        vec![change(2, Some(&queued), Some(&sending)), change(3, Some(&sending), Some(&sent))],
        &state,
        "2026-03-01T10:00:00Z",
        true,
    );
    let response = handle_window(&h.stream, last).await.unwrap();
    assert!(response.time_window_event_response_properties.state.is_empty(), "the window is over");
    assert_eq!(h.counts().await, PhoneCounts { completed: 1, ..PhoneCounts::default() });
}

#[tokio::test]
async fn a_retried_window_counts_once_even_after_a_partial_failure() {
    let h = harness();
    let mut queued = record(Status::Queued);
    queued.broadcast_id = Some("b-1".into());
    let mut sent = record(Status::Sent);
    sent.broadcast_id = Some("b-1".into());
    let broadcast = CounterItem::Broadcast { org: org(), broadcast: "b-1".into() };
    let event = || {
        window(
            vec![change(1, None, Some(&queued)), change(2, Some(&queued), Some(&sent))],
            &HashMap::new(),
            "2026-03-01T10:00:00Z",
            true,
        )
    };
    // The broadcast's item fails: the phone's takes the window in, the invocation fails.
    h.store.failing_counters.lock().unwrap().push(broadcast);
    assert!(handle_window(&h.stream, event()).await.is_err());
    assert_eq!(h.counts().await.completed, 1);
    assert_eq!(h.store.broadcast_tally(&org(), &"b-1".into()).await.unwrap().sent, 0);
    // Lambda retries the same invocation: each item counts the window once.
    h.store.failing_counters.lock().unwrap().clear();
    handle_window(&h.stream, event()).await.unwrap();
    handle_window(&h.stream, event()).await.unwrap();
    assert_eq!(h.counts().await.completed, 1, "the phone's item skipped the retries");
    assert_eq!(h.store.broadcast_tally(&org(), &"b-1".into()).await.unwrap().sent, 1);
    // The next window of the shard is new to both.
    let mut later = sent.clone();
    later.queue_id = "q-2".into();
    let next =
        window(vec![change(3, None, Some(&record(Status::Queued)))], &HashMap::new(), "2026-03-01T10:00:10Z", true);
    handle_window(&h.stream, next).await.unwrap();
    assert_eq!(h.counts().await.pending, 1);
}

#[tokio::test]
async fn a_deletion_by_ttl_changes_no_count_and_other_items_are_ignored() {
    let h = harness();
    let (queued, sent) = (record(Status::Queued), record(Status::Sent));
    let mut stats_change = change(3, None, None);
    stats_change["dynamodb"]["Keys"] = json!({"pk": {"S": "STATS#org-1#phone-a"}, "sk": {"S": "STATS"}});
    stats_change["dynamodb"]["NewImage"] = json!({"pending": {"N": "5"}});
    let by_ttl = |mut record: Value| {
        record["userIdentity"] = json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
        record
    };
    let records = vec![
        change(1, None, Some(&queued)),
        change(2, None, Some(&sent)),
        stats_change,
        by_ttl(change(4, Some(&sent), None)),
        by_ttl(change(5, Some(&queued), None)),
    ];
    handle_window(&h.stream, window(records, &HashMap::new(), "2026-03-01T10:00:00Z", true)).await.unwrap();
    let hour = hour_of(at("2026-03-01T10:00:01Z"));
    assert_eq!(h.counts().await, PhoneCounts { pending: 1, completed: 1, ..PhoneCounts::default() }, "hour {hour}");
    // A deletion by anyone else (none of Outbox's own paths deletes a record) takes it out of the gauges.
    let records = vec![change(6, Some(&queued), None)];
    handle_window(&h.stream, window(records, &HashMap::new(), "2026-03-01T10:00:10Z", true)).await.unwrap();
    assert_eq!(h.counts().await, PhoneCounts { completed: 1, ..PhoneCounts::default() });
}

#[tokio::test]
async fn with_sandbox_receipts_on_a_sent_sandbox_message_becomes_delivered_then_read() {
    let h = harness();
    let receipts = crate::receipts::Receipts {
        store: h.store.clone(),
        receipts: h.store.clone(),
        clock: h.clock.clone(),
        metrics: crate::metrics::Metrics::capture("Outbox/test"),
    };
    let stream = StatusStream { sandbox_receipts: Some(receipts), ..h.stream.clone() };
    let sending = record(Status::Sending);
    h.store.create(&sending).await.unwrap();
    let sent_result = crate::ports::AttemptResult::Sent { provider_message_id: "sandbox.q-1".into(), findable: false };
    assert!(h.store.finish_attempt(&org(), &sending.queue_id, 1, sent_result, h.clock.now()).await.unwrap());
    let read = || async { h.store.get(&org(), &sending.queue_id).await.unwrap().unwrap() };

    let sent = read().await;
    let event = window(vec![change(1, Some(&sending), Some(&sent))], &HashMap::new(), "2026-03-01T10:00:00Z", false);
    handle_window(&stream, event).await.unwrap();
    let delivered = read().await;
    assert_eq!(delivered.status, Status::Delivered);
    // A retried invocation applies nothing twice.
    let again = window(vec![change(1, Some(&sending), Some(&sent))], &HashMap::new(), "2026-03-01T10:00:00Z", false);
    handle_window(&stream, again).await.unwrap();
    assert_eq!(read().await.status, Status::Delivered);

    let event = window(vec![change(2, Some(&sent), Some(&delivered))], &HashMap::new(), "2026-03-01T10:00:00Z", false);
    handle_window(&stream, event).await.unwrap();
    let done = read().await;
    assert_eq!(done.status, Status::Read);
    assert!(done.timeline.delivered_at.is_some() && done.timeline.read_at.is_some());

    // Off (the default), or another provider's message: nothing is reported.
    let mut cloud = record(Status::Sending);
    cloud.queue_id = "q-2".into();
    cloud.provider = ProviderKind::WhatsappCloud;
    h.store.create(&cloud).await.unwrap();
    let cloud_sent =
        MessageRecord { status: Status::Sent, provider_message_id: Some("wamid.2".into()), ..cloud.clone() };
    let event =
        window(vec![change(3, Some(&cloud), Some(&cloud_sent))], &HashMap::new(), "2026-03-01T10:00:00Z", false);
    handle_window(&stream, event).await.unwrap();
    assert_eq!(h.store.get(&org(), &cloud.queue_id).await.unwrap().unwrap().status, Status::Sending);
}

mod events {
    use std::collections::BTreeSet;

    use super::*;
    use crate::adapters::memory::MemoryEvents;
    use crate::domain::ids::WebhookId;
    use crate::domain::tenant::{Phone, ProviderSettings};
    use crate::domain::webhook::{EventType, WebhookRecord, event_id};
    use crate::ports::{TenantStore, WebhookStore};

    struct Events {
        h: Harness,
        queue: Arc<MemoryEvents>,
        all: WebhookId,
        read_only: WebhookId,
    }

    async fn subscribed() -> Events {
        let mut h = harness();
        let queue = Arc::new(MemoryEvents::default());
        h.stream.events =
            Some(EventPublisher { webhooks: h.store.clone(), tenants: h.store.clone(), queue: queue.clone() });
        let webhook = |events: &[EventType]| WebhookRecord {
            org_id: org(),
            webhook_id: WebhookId::generate(),
            url: "https://example.com/hook".into(),
            events: events.iter().copied().collect::<BTreeSet<_>>(),
            description: None,
            secret_ref: "ref".into(),
            created_at: at("2026-03-01T09:00:00Z"),
            updated_at: at("2026-03-01T09:00:00Z"),
        };
        let (all, read_only) = (webhook(&EventType::ALL), webhook(&[EventType::MessageRead]));
        h.store.create_webhook(&all).await.unwrap();
        h.store.create_webhook(&read_only).await.unwrap();
        let other_org = WebhookRecord { org_id: OrgId::from("org-2"), ..webhook(&EventType::ALL) };
        h.store.create_webhook(&other_org).await.unwrap();
        let phone = Phone {
            org_id: org(),
            phone_id: phone(),
            number: "15550100000".into(),
            provider: ProviderSettings::Sandbox,
            created_at: at("2026-03-01T09:00:00Z"),
        };
        h.store.put_phone(&phone).await.unwrap();
        Events { h, queue, all: all.webhook_id, read_only: read_only.webhook_id }
    }

    #[tokio::test]
    async fn a_status_change_queues_its_event_for_each_webhook_of_the_org_that_wants_it() {
        let e = subscribed().await;
        let sending = record(Status::Sending);
        let sent = record(Status::Sent);
        let mut read = record(Status::Read);
        read.timeline.read_at = Some(at("2026-03-01T10:00:05Z"));
        let records = vec![
            change(1, Some(&record(Status::Queued)), Some(&sending)),
            change(2, Some(&sending), Some(&sent)),
            change(3, Some(&sent), Some(&read)),
            change(4, Some(&read), Some(&read)),
        ];
        handle_window(&e.h.stream, window(records, &HashMap::new(), "2026-03-01T10:00:00Z", false)).await.unwrap();
        let published = e.queue.published();
        let summary: BTreeSet<(EventType, &WebhookId)> = published.iter().map(|d| (d.kind, &d.webhook_id)).collect();
        assert_eq!(published.len(), 3);
        assert_eq!(
            summary,
            BTreeSet::from([
                (EventType::MessageSent, &e.all),
                (EventType::MessageRead, &e.all),
                (EventType::MessageRead, &e.read_only)
            ]),
            "queued → sending and an unchanged status make none; org-2's webhook never sees org-1's messages"
        );
        let sent_delivery = published.iter().find(|d| d.kind == EventType::MessageSent).unwrap();
        let body: Value = serde_json::from_str(&sent_delivery.body).unwrap();
        assert_eq!(body["id"], event_id(&sent.queue_id, 0, EventType::MessageSent).as_str());
        assert_eq!(body["type"], "message.sent");
        assert_eq!(body["data"]["phone"], "15550100000", "the sending phone's number");
        assert_eq!(body["data"]["status"], "sent");
        let reads: Vec<&str> =
            published.iter().filter(|d| d.kind == EventType::MessageRead).map(|d| d.body.as_str()).collect();
        assert_eq!(reads[0], reads[1], "every webhook gets the same event");
    }

    #[tokio::test]
    async fn a_retried_invocation_queues_the_same_events_again_and_a_queue_outage_fails_it() {
        let e = subscribed().await;
        let records = || vec![change(1, Some(&record(Status::Sending)), Some(&record(Status::Sent)))];
        e.queue.fail_next(1);
        let failed = handle_window(&e.h.stream, window(records(), &HashMap::new(), "2026-03-01T10:00:00Z", true)).await;
        assert!(matches!(failed, Err(StreamError::Queue(_))), "Lambda retries the invocation");
        assert!(e.queue.published().is_empty());
        handle_window(&e.h.stream, window(records(), &HashMap::new(), "2026-03-01T10:00:00Z", true)).await.unwrap();
        handle_window(&e.h.stream, window(records(), &HashMap::new(), "2026-03-01T10:00:00Z", true)).await.unwrap();
        let ids: Vec<_> = e.queue.published().into_iter().map(|d| d.event_id).collect();
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[0], ids[1], "a copy carries the same id, which receivers dedupe on");
    }

    #[tokio::test]
    async fn an_org_without_webhooks_queues_nothing_and_reads_no_phones() {
        let mut h = harness();
        let queue = Arc::new(MemoryEvents::default());
        h.stream.events =
            Some(EventPublisher { webhooks: h.store.clone(), tenants: h.store.clone(), queue: queue.clone() });
        let records = vec![change(1, Some(&record(Status::Sending)), Some(&record(Status::Failed)))];
        handle_window(&h.stream, window(records, &HashMap::new(), "2026-03-01T10:00:00Z", true)).await.unwrap();
        assert!(queue.published().is_empty());
    }
}
