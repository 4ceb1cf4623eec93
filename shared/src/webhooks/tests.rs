//! The webhook sender against a real HTTP receiver on loopback, over in-memory stores: signed
//! calls, the backoff of a failed one, a stalled receiver cut at the timeout, a deleted webhook,
//! a rotation's two signatures, and the egress rule at call time.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::*;
use crate::adapters::memory::{ManualClock, MemoryEvents, MemorySecrets, MemoryStore};
use crate::domain::ids::{OrgId, WebhookId};
use crate::domain::message::{Status, sending_fixture};
use crate::domain::tenant::ProviderKind;
use crate::domain::time::Timestamp;
use crate::domain::webhook::{EventType, WebhookEvent, WebhookRecord, WebhookSecrets};
use crate::net::signatures::verify_webhook_header;

/// What the receiver does with each call, in order; after the script, 200.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    Stall,
}

/// One call as received: the signature header, and the body.
type Call = (Option<String>, String);

#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<Vec<Answer>>>,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Receiver {
    /// Serves on loopback; returns the receiver and its URL.
    async fn start(script: Vec<Answer>) -> (Receiver, String) {
        let receiver = Receiver { script: Arc::new(Mutex::new(script)), ..Receiver::default() };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let url = format!("http://{}/outbox/events", listener.local_addr().expect("bound"));
        let state = receiver.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
                state.calls.lock().unwrap().push((signature, String::from_utf8_lossy(&body).into_owned()));
                let next = {
                    let mut script = state.script.lock().unwrap();
                    if script.is_empty() { Answer::Status(200) } else { script.remove(0) }
                };
                match next {
                    Answer::Status(code) => StatusCode::from_u16(code).unwrap(),
                    Answer::Stall => {
                        tokio::time::sleep(CALL_TIMEOUT * 3).await;
                        StatusCode::OK
                    }
                }
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

struct Harness {
    sender: WebhookSender,
    store: Arc<MemoryStore>,
    secrets: Arc<MemorySecrets>,
    queue: Arc<MemoryEvents>,
    clock: Arc<ManualClock>,
}

fn harness(allow_private: bool) -> Harness {
    let store = Arc::new(MemoryStore::default());
    let secrets = Arc::new(MemorySecrets::default());
    let queue = Arc::new(MemoryEvents::default());
    let clock = Arc::new(ManualClock::starting_now());
    let egress = Egress::new(allow_private);
    let sender = WebhookSender {
        webhooks: store.clone(),
        secrets: secrets.clone(),
        queue: queue.clone(),
        http: http_client(&egress).into(),
        egress,
        clock: clock.clone(),
        retry: RetryPolicy { base: Duration::from_secs(60) },
        metrics: Metrics::capture(crate::config::DEFAULT_METRICS_NAMESPACE),
    };
    Harness { sender, store, secrets, queue, clock }
}

impl Harness {
    /// A webhook of org-1 at `url` for every event, its secrets stored.
    async fn webhook(&self, url: &str, secrets: &WebhookSecrets) -> WebhookRecord {
        let webhook = WebhookRecord {
            org_id: OrgId::from("org-1"),
            webhook_id: WebhookId::generate(),
            url: url.into(),
            events: EventType::ALL.into_iter().collect::<BTreeSet<_>>(),
            description: None,
            secret_ref: String::new(),
            created_at: self.clock.now(),
            updated_at: self.clock.now(),
        };
        let secret_ref = self
            .secrets
            .put(&format!("outbox/webhooks/{}", webhook.webhook_id), &serde_json::to_string(secrets).unwrap())
            .await
            .unwrap();
        let webhook = WebhookRecord { secret_ref, ..webhook };
        self.store.create_webhook(&webhook).await.unwrap();
        webhook
    }
}

/// A `message.sent` delivery for `webhook`, as the stream consumer queues it.
fn delivery(webhook: &WebhookRecord) -> EventDelivery {
    let mut record = sending_fixture("phone-1", ProviderKind::Sandbox, "hi");
    record.status = Status::Sent;
    let event = WebhookEvent::of(&record, "15550100000", Timestamp::parse("2026-11-30T12:00:00Z").unwrap()).unwrap();
    EventDelivery::of(webhook, &event)
}

/// An SQS batch of the events queue, the nth receive of each message.
fn batch(deliveries: &[(&str, &str, u32)]) -> SqsEvent {
    let records: Vec<Value> = deliveries
        .iter()
        .map(|(id, body, receives)| {
            json!({"messageId": id, "receiptHandle": format!("rh-{id}"), "body": body,
                   "attributes": {"ApproximateReceiveCount": receives.to_string()}})
        })
        .collect();
    serde_json::from_value(json!({"Records": records})).expect("an SQS event")
}

fn failed_ids(response: &SqsBatchResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect()
}

#[tokio::test]
async fn a_receiver_gets_the_event_signed_with_the_webhooks_secret() {
    let h = harness(true);
    let (receiver, url) = Receiver::start(vec![]).await;
    let secret = "whsec_a".to_string();
    let webhook = h.webhook(&url, &WebhookSecrets::new(secret.clone())).await;
    let sent = delivery(&webhook);
    let response = handle_batch(&h.sender, batch(&[("m1", &sent.encode(), 1)])).await;
    assert!(failed_ids(&response).is_empty(), "a 2xx ends the delivery");
    let calls = receiver.calls();
    assert_eq!(calls.len(), 1);
    let (signature, body) = &calls[0];
    assert_eq!(body, &sent.body, "the body as queued");
    verify_webhook_header(
        &SecretString::from(secret),
        signature.as_deref(),
        body.as_bytes(),
        h.clock.now().epoch_secs(),
    )
    .expect("a signature the receiver verifies");
    assert!(h.queue.retries().is_empty());
    let metrics = h.sender.metrics.lines().join("\n");
    assert!(metrics.contains("\"WebhookCalls\":1.0") && metrics.contains("\"Outcome\":\"delivered\""), "{metrics}");
}

#[tokio::test]
async fn a_failed_or_stalled_call_comes_back_after_a_growing_backoff_and_others_are_not_held_up() {
    let h = harness(true);
    let (failing, failing_url) = Receiver::start(vec![Answer::Status(503)]).await;
    let (stalled, stalled_url) = Receiver::start(vec![Answer::Stall]).await;
    let (healthy, healthy_url) = Receiver::start(vec![]).await;
    let secrets = WebhookSecrets::new("whsec_b".into());
    let (a, b, c) = (
        delivery(&h.webhook(&failing_url, &secrets).await),
        delivery(&h.webhook(&stalled_url, &secrets).await),
        delivery(&h.webhook(&healthy_url, &secrets).await),
    );
    let started = Instant::now();
    let response =
        handle_batch(&h.sender, batch(&[("a", &a.encode(), 1), ("b", &b.encode(), 3), ("c", &c.encode(), 1)])).await;
    let took = started.elapsed();
    let mut failed = failed_ids(&response);
    failed.sort();
    assert_eq!(failed, ["a", "b"]);
    assert!(took < CALL_TIMEOUT * 2, "the stalled receiver is cut at the timeout: {took:?}");
    let retries = h.queue.retries();
    let delay_of = |handle: &str| retries.iter().find(|(h, _)| h == handle).map(|(_, d)| d.as_secs()).unwrap();
    assert!((48..=72).contains(&delay_of("rh-a")), "1st receive: the base, ±20%: {retries:?}");
    assert!((192..=288).contains(&delay_of("rh-b")), "3rd receive: 4 × the base: {retries:?}");
    assert_eq!((failing.calls().len(), stalled.calls().len(), healthy.calls().len()), (1, 1, 1));
}

#[tokio::test]
async fn a_deleted_or_unsubscribed_webhook_drops_the_delivery_and_a_bad_body_does_not_fail_its_batch() {
    let h = harness(true);
    let (receiver, url) = Receiver::start(vec![]).await;
    let webhook = h.webhook(&url, &WebhookSecrets::new("whsec_c".into())).await;
    let sent = delivery(&webhook);
    let unsubscribed = WebhookRecord { events: BTreeSet::from([EventType::MessageRead]), ..webhook.clone() };
    h.store.update_webhook(&unsubscribed).await.unwrap();
    let response = handle_batch(&h.sender, batch(&[("m1", &sent.encode(), 1), ("m2", "not json", 1)])).await;
    assert!(failed_ids(&response).is_empty());
    h.store.delete_webhook(&webhook.org_id, &webhook.webhook_id).await.unwrap();
    let response = handle_batch(&h.sender, batch(&[("m3", &sent.encode(), 1)])).await;
    assert!(failed_ids(&response).is_empty());
    assert!(receiver.calls().is_empty(), "nothing is posted for a webhook that does not want it");
}

#[tokio::test]
async fn during_a_rotation_the_header_carries_both_signatures() {
    let h = harness(true);
    let (receiver, url) = Receiver::start(vec![]).await;
    let rotated = WebhookSecrets::new("whsec_old".into()).rotated("whsec_new".into(), h.clock.now());
    let webhook = h.webhook(&url, &rotated).await;
    handle_batch(&h.sender, batch(&[("m1", &delivery(&webhook).encode(), 1)])).await;
    let (signature, body) = receiver.calls().remove(0);
    let signature = signature.unwrap();
    assert_eq!(signature.matches("v1=").count(), 2, "{signature}");
    for secret in ["whsec_old", "whsec_new"] {
        verify_webhook_header(
            &SecretString::from(secret),
            Some(&signature),
            body.as_bytes(),
            h.clock.now().epoch_secs(),
        )
        .expect("either secret verifies");
    }
}

#[tokio::test]
async fn a_webhook_pointing_at_a_private_address_is_not_called_where_egress_is_strict() {
    let h = harness(false);
    let (receiver, url) = Receiver::start(vec![]).await;
    let https_loopback = url.replace("http://", "https://");
    for target in [url.as_str(), https_loopback.as_str(), "https://169.254.169.254/latest/meta-data"] {
        let webhook = h.webhook(target, &WebhookSecrets::new("whsec_d".into())).await;
        let response = handle_batch(&h.sender, batch(&[("m1", &delivery(&webhook).encode(), 1)])).await;
        assert_eq!(failed_ids(&response), ["m1"], "{target}: retried, in case the URL is changed");
    }
    assert!(receiver.calls().is_empty());
}

#[tokio::test]
async fn a_hostname_that_resolves_to_a_private_address_is_refused_at_call_time() {
    use crate::net::egress::FixedLookup;
    let mut h = harness(false);
    // The name was public when the webhook was created; now it answers a private address.
    let lookup = FixedLookup::new([("hooks.example.com", vec!["10.0.0.7".parse().unwrap()])]);
    let egress = Egress::new(false).with_lookup(Arc::new(lookup));
    h.sender.http = http_client(&egress).into();
    h.sender.egress = egress;
    let webhook = h.webhook("https://hooks.example.com/outbox", &WebhookSecrets::new("whsec_e".into())).await;
    let Outcome::Failed(reason) = deliver(&h.sender, &delivery(&webhook)).await else {
        panic!("a private target must not be called")
    };
    assert!(reason.contains("10.0.0.7") && reason.contains("private"), "{reason}");
    let response = handle_batch(&h.sender, batch(&[("m1", &delivery(&webhook).encode(), 2)])).await;
    assert_eq!(failed_ids(&response), ["m1"], "retried later, in case DNS or the URL changes");
    assert_eq!(h.queue.retries().len(), 1);
}
