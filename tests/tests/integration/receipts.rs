//! Receipts on the DynamoDB table (moto): the phone found by Meta's number id (gsi1 `WAPHONES`),
//! the message by its provider id (the sparse keys-only gsi6) only for real providers, and the
//! receipt's conditional UpdateItem: forward only, and a receipt that beats our own `sent`.

use std::time::Duration;

use outbox_tests::Stack;
use outbox_tests::outbox::domain::chat_id::ChatId;
use outbox_tests::outbox::domain::ids::QueueId;
use outbox_tests::outbox::domain::ids::{OrgId, PhoneId, UniqueId};
use outbox_tests::outbox::domain::message::{AttemptOutcome, MessageRecord, Status, Timeline};
use outbox_tests::outbox::domain::receipt::{Receipt, ReceiptStatus, Unchanged};
use outbox_tests::outbox::domain::tenant::{Phone, ProviderKind, ProviderSettings};
use outbox_tests::outbox::ports::{
    AttemptResult, BeginAttempt, Clock, ReceiptStore, StatusStore, SystemClock, TenantStore,
};
use outbox_tests::outbox::receipts::{Applied, Receipts};
use std::sync::Arc;

fn cloud_phone(org: &OrgId, number_id: &str) -> Phone {
    Phone {
        org_id: org.clone(),
        phone_id: PhoneId::generate(),
        number: "15550100000".into(),
        provider: ProviderSettings::WhatsappCloud {
            phone_number_id: number_id.into(),
            graph_url: "https://graph.facebook.com".into(),
            graph_version: "v21.0".into(),
            secret_ref: "outbox/test/phone".into(),
        },
        created_at: SystemClock.now(),
    }
}

fn queued(phone: &Phone, provider: ProviderKind) -> MessageRecord {
    let unique_id = UniqueId::generate();
    MessageRecord {
        org_id: phone.org_id.clone(),
        queue_id: QueueId::of(&unique_id),
        unique_id,
        phone_id: phone.phone_id.clone(),
        provider,
        chat_id: ChatId::parse("919537851844").expect("a chat id"),
        text: Some("hi".into()),
        media: None,
        poll: None,
        reply_to: None,
        hide_url_preview: false,
        link_preview: Default::default(),
        status: Status::Queued,
        status_description: None,
        provider_message_id: None,
        attempts: 0,
        attempt_log: vec![],
        timeline: Timeline::queued(SystemClock.now()),
        lease_until: None,
        dead_lettered_at: None,
        generation: 0,
        attempts_before_replay: 0,
        requeued_at: None,
        attempt_log_dropped: 0,
        scheduled_at: None,
        broadcast_id: None,
        expires_at: SystemClock.now().epoch_secs() + 3600,
    }
}

async fn sending(store: &impl StatusStore, record: &MessageRecord) {
    store.create(record).await.expect("create");
    let now = SystemClock.now();
    let begun = store.begin_attempt(&record.org_id, &record.queue_id, None, now, now.plus(Duration::from_secs(30)));
    assert!(matches!(begun.await.expect("begin"), BeginAttempt::Started(_)));
}

#[tokio::test]
async fn receipts_find_their_phone_and_message_by_index_and_only_move_forward() {
    let stack = Stack::start().await;
    let store = Arc::new(stack.store());
    let org = OrgId::generate();
    let number_id = format!("10{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let phone = cloud_phone(&org, &number_id);
    store.put_phone(&phone).await.expect("phone");
    let found = store.whatsapp_phones(Some(&number_id)).await.expect("query");
    assert_eq!(found, vec![phone.clone()]);
    assert!(store.whatsapp_phones(None).await.expect("query").contains(&phone));
    assert!(store.whatsapp_phones(Some("999")).await.expect("query").is_empty());

    let receipts = Receipts {
        store: store.clone(),
        receipts: store.clone(),
        clock: Arc::new(SystemClock),
        metrics: outbox_tests::outbox::metrics::Metrics::capture("Outbox/test"),
    };
    let report = |id: &str, status| Receipt { provider_message_id: id.into(), status };

    // Sent by our own write: findable by its wamid, then forward only.
    let record = queued(&phone, ProviderKind::WhatsappCloud);
    sending(store.as_ref(), &record).await;
    let sent = AttemptResult::Sent { provider_message_id: "wamid.A".into(), findable: true };
    assert!(store.finish_attempt(&org, &record.queue_id, 1, sent, SystemClock.now()).await.expect("finish"));
    assert_eq!(store.find_by_provider_id(&org, "wamid.A").await.expect("query"), Some(record.queue_id.clone()));
    assert_eq!(store.find_by_provider_id(&OrgId::generate(), "wamid.A").await.expect("query"), None);
    let apply = |receipt: Receipt| {
        let receipts = receipts.clone();
        let phone = phone.clone();
        async move { receipts.apply(&phone, None, &receipt).await.expect("apply") }
    };
    assert_eq!(apply(report("wamid.A", ReceiptStatus::Read)).await, Applied::Moved(Status::Read));
    assert_eq!(apply(report("wamid.A", ReceiptStatus::Delivered)).await, Applied::Unchanged(Unchanged::AlreadyThere));
    let read = store.get(&org, &record.queue_id).await.expect("get").expect("record");
    assert_eq!(read.status, Status::Read);
    assert!(read.timeline.read_at.is_some() && read.timeline.delivered_at == read.timeline.read_at);

    // A receipt that beats our own sent: applied with the attempt finished; the late sent changes nothing.
    let raced = queued(&phone, ProviderKind::WhatsappCloud);
    sending(store.as_ref(), &raced).await;
    let delivered = report("wamid.B", ReceiptStatus::Delivered);
    let applied = receipts.apply(&phone, Some(&raced.queue_id), &delivered).await.expect("apply");
    assert_eq!(applied, Applied::Moved(Status::Delivered));
    let sent = AttemptResult::Sent { provider_message_id: "wamid.B".into(), findable: true };
    assert!(!store.finish_attempt(&org, &raced.queue_id, 1, sent, SystemClock.now()).await.expect("finish"));
    let now = store.get(&org, &raced.queue_id).await.expect("get").expect("record");
    assert_eq!((now.status, now.provider_message_id.as_deref()), (Status::Delivered, Some("wamid.B")));
    assert_eq!(now.attempt_log[0].outcome, Some(AttemptOutcome::Sent));
    assert!(now.lease_until.is_none() && now.timeline.sent_at.is_some());
    assert_eq!(store.find_by_provider_id(&org, "wamid.B").await.expect("query"), Some(raced.queue_id.clone()));

    // Failed after sent: failed with the provider's code and title.
    let failing = queued(&phone, ProviderKind::WhatsappCloud);
    sending(store.as_ref(), &failing).await;
    let sent = AttemptResult::Sent { provider_message_id: "wamid.C".into(), findable: true };
    assert!(store.finish_attempt(&org, &failing.queue_id, 1, sent, SystemClock.now()).await.expect("finish"));
    let failure = ReceiptStatus::failed("whatsapp-cloud", Some(131026), Some("Message undeliverable"));
    assert_eq!(apply(report("wamid.C", failure)).await, Applied::Moved(Status::Failed));
    let failed = store.get(&org, &failing.queue_id).await.expect("get").expect("record");
    assert_eq!(failed.status_description.as_deref(), Some("whatsapp-cloud error 131026: Message undeliverable"));

    // Meta's failed while our own write is still pending: the attempt ends as a permanent error.
    let refused = queued(&phone, ProviderKind::WhatsappCloud);
    sending(store.as_ref(), &refused).await;
    let failure =
        ReceiptStatus::failed("whatsapp-cloud", Some(131049), Some("Not delivered to maintain ecosystem health"));
    let applied = receipts.apply(&phone, Some(&refused.queue_id), &report("wamid.E", failure)).await.expect("apply");
    assert_eq!(applied, Applied::Moved(Status::Failed));
    let now = store.get(&org, &refused.queue_id).await.expect("get").expect("record");
    assert_eq!(now.attempt_log[0].outcome, Some(AttemptOutcome::PermanentError));
    assert_eq!(now.attempt_log[0].error, now.status_description);
    assert!(now.timeline.sent_at.is_none() && now.timeline.failed_at.is_some() && now.lease_until.is_none());

    // The sandbox's messages are not in the index: nothing to write for them.
    let sandbox = queued(&phone, ProviderKind::Sandbox);
    sending(store.as_ref(), &sandbox).await;
    let sent = AttemptResult::Sent { provider_message_id: "sandbox.D".into(), findable: false };
    assert!(store.finish_attempt(&org, &sandbox.queue_id, 1, sent, SystemClock.now()).await.expect("finish"));
    assert_eq!(store.find_by_provider_id(&org, "sandbox.D").await.expect("query"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_the_local_stack_a_sandbox_message_goes_on_to_delivered_and_read() {
    let overrides = vec![("OUTBOX_SANDBOX_RECEIPTS", "on".to_string())];
    let stack = Stack::start_with(outbox_tests::StackOptions { overrides, ..Default::default() }).await;
    let (code, accepted) = stack.send(serde_json::json!({"chat_id": "919537851844", "message": "all the way"})).await;
    assert_eq!(code, reqwest::StatusCode::OK, "{accepted}");
    let queue_id = accepted["queue_id"].as_str().expect("a queue_id").to_string();
    let read = stack.wait_for(&queue_id, Duration::from_secs(60), |s| s["status"] == "read").await;
    let timeline = &read["timeline"];
    assert!(
        timeline["sent_at"].is_string() && timeline["delivered_at"].is_string() && timeline["read_at"].is_string(),
        "{read}"
    );
    let (_, object) =
        stack.get_as(outbox_tests::outbox::local::LOCAL_API_KEY, &format!("/v1/message/{queue_id}")).await;
    assert_eq!(object["ack"], 3, "{object}");
}
