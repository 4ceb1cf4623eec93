//! Webhook subscriptions on the DynamoDB table (moto): create once, read and list within the org
//! only, update and delete only what exists.

use std::collections::BTreeSet;
use std::time::Duration;

use outbox_tests::Stack;
use outbox_tests::outbox::domain::ids::{OrgId, WebhookId};
use outbox_tests::outbox::domain::time::Timestamp;
use outbox_tests::outbox::domain::webhook::{EventType, WebhookRecord};
use outbox_tests::outbox::ports::WebhookStore;

fn webhook(org: &OrgId, at: Timestamp) -> WebhookRecord {
    WebhookRecord {
        org_id: org.clone(),
        webhook_id: WebhookId::generate(),
        url: "https://example.com/hook".into(),
        events: BTreeSet::from([EventType::MessageSent, EventType::MessageRead]),
        description: Some("crm".into()),
        secret_ref: "outbox/webhooks/test".into(),
        created_at: at,
        updated_at: at,
    }
}

#[tokio::test]
async fn webhooks_are_kept_per_org_and_changed_only_while_they_exist() {
    let stack = Stack::start().await;
    let store = stack.store();
    let (org, other) = (OrgId::generate(), OrgId::generate());
    let at = Timestamp::parse("2026-11-30T12:00:00Z").unwrap();
    let first = webhook(&org, at);
    let second = webhook(&org, at.plus(Duration::from_secs(1)));
    assert!(store.create_webhook(&second).await.unwrap());
    assert!(store.create_webhook(&first).await.unwrap());
    assert!(!store.create_webhook(&first).await.unwrap(), "an existing id is never overwritten");
    assert!(store.create_webhook(&webhook(&other, at)).await.unwrap());

    assert_eq!(store.get_webhook(&org, &first.webhook_id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.get_webhook(&other, &first.webhook_id).await.unwrap(), None, "another org's id is not found");
    assert_eq!(store.list_webhooks(&org).await.unwrap(), vec![first.clone(), second.clone()], "oldest first");

    let changed = WebhookRecord { url: "https://example.com/v2".into(), ..first.clone() };
    assert!(store.update_webhook(&changed).await.unwrap());
    assert_eq!(store.get_webhook(&org, &first.webhook_id).await.unwrap().unwrap().url, "https://example.com/v2");
    assert!(store.delete_webhook(&org, &first.webhook_id).await.unwrap());
    assert!(!store.delete_webhook(&org, &first.webhook_id).await.unwrap());
    assert!(!store.update_webhook(&changed).await.unwrap(), "a deleted webhook is not brought back");
    assert_eq!(store.list_webhooks(&org).await.unwrap(), vec![second]);
}
