//! The receipt applier over the in-memory store: order, duplicates, the race with our own `sent`,
//! lookups by queue_id and by provider message id, and phones that are not the message's.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::adapters::memory::{ManualClock, MemoryStore};
use crate::domain::message::sending_fixture;
use crate::domain::receipt::ReceiptStatus;
use crate::domain::tenant::{ProviderKind, ProviderSettings};
use crate::domain::time::Timestamp;
use crate::ports::{AttemptResult, BeginAttempt};

struct Fixture {
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    receipts: Receipts,
    phone: Phone,
}

fn fixture() -> Fixture {
    let store = Arc::new(MemoryStore::default());
    let clock = Arc::new(ManualClock::at(Timestamp::parse("2026-01-01T00:00:00Z").unwrap()));
    let receipts = Receipts {
        store: store.clone(),
        receipts: store.clone(),
        clock: clock.clone(),
        metrics: crate::metrics::Metrics::capture("Outbox/test"),
    };
    let phone = Phone {
        org_id: "org-1".into(),
        phone_id: "phone-1".into(),
        number: "15550100000".into(),
        provider: ProviderSettings::WhatsappCloud {
            phone_number_id: "1055".into(),
            graph_url: "https://graph.facebook.com".into(),
            graph_version: "v21.0".into(),
            secret_ref: "outbox/phone-1".into(),
        },
        created_at: clock.now(),
    };
    Fixture { store, clock, receipts, phone }
}

impl Fixture {
    /// A whatsapp-cloud message in its first attempt.
    async fn sending(&self) -> MessageRecord {
        let mut record = sending_fixture("phone-1", ProviderKind::WhatsappCloud, "hi");
        record.status = Status::Queued;
        record.attempts = 0;
        self.store.create(&record).await.unwrap();
        let (now, lease) = (self.clock.now(), self.clock.now().plus(Duration::from_secs(30)));
        match self.store.begin_attempt(&record.org_id, &record.queue_id, None, now, lease).await.unwrap() {
            BeginAttempt::Started(record) => record,
            other => panic!("{other:?}"),
        }
    }

    async fn finish_sent(&self, record: &MessageRecord) -> bool {
        let sent = AttemptResult::Sent { provider_message_id: "wamid.1".into(), findable: true };
        self.store.finish_attempt(&record.org_id, &record.queue_id, 1, sent, self.clock.now()).await.unwrap()
    }

    async fn sent(&self) -> MessageRecord {
        let record = self.sending().await;
        assert!(self.finish_sent(&record).await);
        self.current(&record).await
    }

    async fn current(&self, record: &MessageRecord) -> MessageRecord {
        self.store.get(&record.org_id, &record.queue_id).await.unwrap().unwrap()
    }

    async fn report(&self, queue_id: Option<&QueueId>, status: ReceiptStatus) -> Applied {
        self.clock.advance(Duration::from_secs(1));
        let receipt = Receipt { provider_message_id: "wamid.1".into(), status };
        self.receipts.apply(&self.phone, queue_id, &receipt).await.unwrap()
    }
}

#[tokio::test]
async fn receipts_move_a_sent_message_forward_only_whatever_their_order_and_repeats() {
    let f = fixture();
    let record = f.sent().await;
    let id = Some(&record.queue_id);
    assert_eq!(f.report(id, ReceiptStatus::Sent).await, Applied::Unchanged(Unchanged::AlreadyThere));
    assert_eq!(f.report(id, ReceiptStatus::Read).await, Applied::Moved(Status::Read));
    let read_at = f.clock.now();
    assert_eq!(f.report(id, ReceiptStatus::Delivered).await, Applied::Unchanged(Unchanged::AlreadyThere));
    assert_eq!(f.report(id, ReceiptStatus::Read).await, Applied::Unchanged(Unchanged::AlreadyThere));
    let now = f.current(&record).await;
    assert_eq!(now.status, Status::Read);
    assert_eq!((now.timeline.read_at, now.timeline.delivered_at), (Some(read_at), Some(read_at)));
}

#[tokio::test]
async fn a_receipt_without_our_queue_id_finds_the_message_by_the_providers_id() {
    let f = fixture();
    let record = f.sent().await;
    assert_eq!(f.report(None, ReceiptStatus::Delivered).await, Applied::Moved(Status::Delivered));
    assert_eq!(f.current(&record).await.status, Status::Delivered);
    let failed = ReceiptStatus::failed("whatsapp-cloud", Some(131026), Some("Message undeliverable"));
    assert_eq!(f.report(None, failed).await, Applied::Unchanged(Unchanged::AlreadyThere));
}

#[tokio::test]
async fn failed_after_sent_ends_the_message_failed_with_the_providers_reason() {
    let f = fixture();
    let record = f.sent().await;
    let failed = ReceiptStatus::failed("whatsapp-cloud", Some(131026), Some("Message undeliverable"));
    assert_eq!(f.report(None, failed).await, Applied::Moved(Status::Failed));
    let now = f.current(&record).await;
    assert_eq!(now.status_description.as_deref(), Some("whatsapp-cloud error 131026: Message undeliverable"));
    assert_eq!(now.timeline.failed_at, Some(f.clock.now()));
}

#[tokio::test]
async fn a_receipt_that_beats_our_own_sent_is_kept_and_the_late_sent_changes_nothing() {
    let f = fixture();
    let record = f.sending().await;
    // Meta's `delivered` arrives while the delivery consumer is still between the call and its write.
    assert_eq!(f.report(Some(&record.queue_id), ReceiptStatus::Delivered).await, Applied::Moved(Status::Delivered));
    assert!(!f.finish_sent(&record).await, "finish_attempt finds the record moved on");
    let now = f.current(&record).await;
    assert_eq!(now.status, Status::Delivered);
    assert_eq!(now.attempt_log[0].outcome, Some(crate::domain::message::AttemptOutcome::Sent));
    assert_eq!((now.lease_until, now.provider_message_id.as_deref()), (None, Some("wamid.1")));
    assert_eq!(f.report(None, ReceiptStatus::Read).await, Applied::Moved(Status::Read), "findable by wamid now");
}

#[tokio::test]
async fn another_phones_or_an_unknown_message_is_acknowledged_and_left_alone() {
    let f = fixture();
    let record = f.sent().await;
    let mut other = f.phone.clone();
    other.phone_id = "phone-2".into();
    let receipt = Receipt { provider_message_id: "wamid.1".into(), status: ReceiptStatus::Read };
    assert_eq!(f.receipts.apply(&other, Some(&record.queue_id), &receipt).await.unwrap(), Applied::Unknown);
    let mut other_org = f.phone.clone();
    other_org.org_id = "org-2".into();
    assert_eq!(f.receipts.apply(&other_org, None, &receipt).await.unwrap(), Applied::Unknown);
    let unknown = Receipt { provider_message_id: "wamid.unknown".into(), status: ReceiptStatus::Read };
    assert_eq!(f.receipts.apply(&f.phone, None, &unknown).await.unwrap(), Applied::Unknown);
    assert_eq!(f.current(&record).await.status, Status::Sent);
}

#[tokio::test]
async fn applied_receipts_emit_delivered_and_read_and_a_receipt_that_finishes_the_attempt_counts_the_send() {
    let f = fixture();
    let record = f.sending().await;
    // Meta's `delivered` before our own `sent` write: the receipt finishes the attempt.
    assert_eq!(f.report(Some(&record.queue_id), ReceiptStatus::Delivered).await, Applied::Moved(Status::Delivered));
    assert!(!f.finish_sent(&record).await, "our later sent write keeps the receipt's record");
    assert_eq!(f.report(Some(&record.queue_id), ReceiptStatus::Read).await, Applied::Moved(Status::Read));
    // A duplicate changes nothing and counts nothing.
    assert!(matches!(f.report(Some(&record.queue_id), ReceiptStatus::Read).await, Applied::Unchanged(_)));
    let lines: Vec<serde_json::Value> =
        f.receipts.metrics.lines().iter().map(|line| serde_json::from_str(line).unwrap()).collect();
    let count = |name: &str| lines.iter().filter(|line| line.get(name).is_some()).count();
    assert_eq!((count("Sent"), count("Delivered"), count("Read")), (1, 1, 1), "{lines:?}");
    assert!(lines.iter().all(|line| line["Provider"] == "whatsapp-cloud" && line["Outcome"] == "receipt"));
}
