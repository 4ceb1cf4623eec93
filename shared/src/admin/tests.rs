//! The admin use cases over in-memory stores.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use secrecy::ExposeSecret;
use serde_json::json;

use super::*;
use crate::adapters::memory::{MemoryQueue, MemorySecrets, MemoryStore};
use crate::domain::ids::{OrgId, PhoneId, QueueId, UniqueId};
use crate::domain::job::Job;
use crate::domain::message::{AttemptOutcome, MessageRecord, Status};
use crate::domain::tenant::{HttpSecrets, KeyHash, ProviderSettings, WhatsappCloudSecrets};
use crate::domain::time::Timestamp;
use crate::net::egress::{Blocked, Egress, EgressError, FixedLookup};
use crate::ports::{AttemptResult, SecretStore, StatusStore, TenantStore};

fn at(raw: &str) -> Timestamp {
    Timestamp::parse(raw).expect("a time")
}

fn now() -> Timestamp {
    at("2026-01-01T00:00:00.000Z")
}

/// A day's retention, replays of interrupted messages refused.
const OPTIONS: ReplayOptions = ReplayOptions { retention: std::time::Duration::from_secs(86_400), force: false };

async fn org(tenants: &MemoryStore) -> OrgId {
    create_org(tenants, "Acme", now()).await.expect("org")
}

/// Adds a phone under the deployed rules: public https provider URLs only.
async fn add(
    tenants: &MemoryStore,
    secrets: &MemorySecrets,
    org: &OrgId,
    number: &str,
    phone_id: Option<&str>,
    provider: ProviderInput,
) -> Result<crate::domain::tenant::Phone, AdminError> {
    add_under(&public_only(), tenants, secrets, org, number, phone_id, provider).await
}

async fn add_under(
    egress: &Egress,
    tenants: &MemoryStore,
    secrets: &MemorySecrets,
    org: &OrgId,
    number: &str,
    phone_id: Option<&str>,
    provider: ProviderInput,
) -> Result<crate::domain::tenant::Phone, AdminError> {
    let phone = NewPhone { number: number.into(), phone_id: phone_id.map(PhoneId::from), provider };
    add_phone(tenants, secrets, egress, org, phone, now()).await
}

/// The deployed rules over a fixed resolver: `x.test` is public, `intranet.test` private.
fn public_only() -> Egress {
    let lookup = FixedLookup::new([
        ("x.test", vec!["93.184.215.14".parse().unwrap()]),
        ("graph.facebook.com", vec!["157.240.0.35".parse().unwrap()]),
        ("intranet.test", vec!["10.20.30.40".parse().unwrap()]),
    ]);
    Egress::new(false).with_lookup(Arc::new(lookup))
}

fn whatsapp(token: &str) -> ProviderInput {
    ProviderInput::WhatsappCloud {
        phone_number_id: "106540352242922".into(),
        graph_url: DEFAULT_GRAPH_URL.into(),
        graph_version: DEFAULT_GRAPH_VERSION.into(),
        secrets: WhatsappCloudSecrets {
            access_token: token.into(),
            app_secret: "app-secret".into(),
            verify_token: "verify".into(),
        },
    }
}

fn http(url: &str) -> ProviderInput {
    ProviderInput::Http { url: url.into(), secrets: HttpSecrets { signing_secret: "signing".into() } }
}

#[tokio::test]
async fn a_key_is_stored_as_its_hash_and_listed_by_id_and_prefix() {
    let tenants = MemoryStore::default();
    let org = org(&tenants).await;
    let key = create_key(&tenants, &org, Some(60), now()).await.expect("key");
    let stored = tenants.find_api_key(&KeyHash::of(key.secret.expose_secret())).await.unwrap().expect("found by hash");
    assert_eq!(stored, key.record);
    let listed = list_keys(&tenants, &org).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].rate_limit, listed[0].key_id.as_str()), (Some(60), key.record.key_id.as_str()));
    let secret = key.secret.expose_secret();
    assert!(secret.starts_with(&listed[0].prefix) && listed[0].prefix.len() < secret.len());
}

#[tokio::test]
async fn keys_and_phones_need_an_existing_org() {
    let tenants = MemoryStore::default();
    let nobody = OrgId::from("org-nobody");
    for err in [
        create_key(&tenants, &nobody, None, now()).await.err(),
        list_keys(&tenants, &nobody).await.err(),
        list_phones(&tenants, &nobody).await.err(),
        add(&tenants, &MemorySecrets::default(), &nobody, "15550100001", None, ProviderInput::Sandbox).await.err(),
    ] {
        let err = err.expect("an error");
        assert!(matches!(&err, AdminError::OrgNotFound(org) if *org == nobody), "{err:?}");
        assert_eq!(err.to_string(), "org org-nobody not found");
    }
    let org = org(&tenants).await;
    let err = create_key(&tenants, &org, Some(0), now()).await.expect_err("a zero limit");
    assert!(matches!(err, AdminError::Invalid { field: Field::RateLimit, .. }), "{err:?}");
    let err = create_org(&tenants, "  ", now()).await.expect_err("a blank name");
    assert!(matches!(err, AdminError::Invalid { field: Field::OrgName, .. }), "{err:?}");
    assert!(err.to_string().starts_with("the org name must be 1 to"), "{err}");
}

#[tokio::test]
async fn revoking_needs_the_orgs_own_key_and_keeps_the_first_time() {
    let tenants = MemoryStore::default();
    let (org, other) = (org(&tenants).await, org(&tenants).await);
    let key = create_key(&tenants, &org, None, now()).await.unwrap();
    let key_id = key.record.key_id.as_str();
    let err = revoke_key(&tenants, &other, key_id, now()).await.expect_err("another org's key");
    assert!(matches!(&err, AdminError::KeyNotFound { org, key_id: id } if *org == other && id == key_id), "{err:?}");
    let err = revoke_key(&tenants, &org, "key-unknown", now()).await.expect_err("no such key");
    assert!(matches!(err, AdminError::KeyNotFound { .. }), "{err:?}");
    assert_eq!(revoke_key(&tenants, &org, key_id, now()).await.unwrap().revoked_at, Some(now()));
    let again = revoke_key(&tenants, &org, key_id, at("2026-02-01T00:00:00.000Z")).await.unwrap();
    assert_eq!(again.revoked_at, Some(now()));
    let stored = tenants.find_api_key(&key.hash).await.unwrap().unwrap();
    assert_eq!(stored.revoked_at, Some(now()));
}

#[tokio::test]
async fn provider_secrets_go_to_the_secret_store_and_the_phone_keeps_a_reference() {
    let (tenants, secrets) = (MemoryStore::default(), MemorySecrets::default());
    let org = org(&tenants).await;
    let phone = add(&tenants, &secrets, &org, "15550100001", None, whatsapp("EAAG-token")).await.unwrap();
    let name = secret_name(&org, &phone.phone_id);
    assert_eq!(phone.provider.secret_ref(), Some(name.as_str()));
    let stored: serde_json::Value = serde_json::from_str(&secrets.get(&name).await.unwrap()).unwrap();
    assert_eq!(stored, json!({"access_token": "EAAG-token", "app_secret": "app-secret", "verify_token": "verify"}));
    let item = serde_json::to_string(&tenants.get_phone(&org, &phone.phone_id).await.unwrap()).unwrap();
    assert!(!item.contains("EAAG-token") && !item.contains("app-secret"), "{item}");

    let hook =
        add(&tenants, &secrets, &org, "15550100002", Some("phone-hook"), http("https://x.test/h")).await.unwrap();
    let stored = secrets.get(hook.provider.secret_ref().unwrap()).await.unwrap();
    assert_eq!(stored, r#"{"signing_secret":"signing"}"#);
    let secret_ref = secret_name(&org, &PhoneId::from("phone-hook"));
    assert_eq!(hook.provider, ProviderSettings::Http { url: "https://x.test/h".into(), secret_ref });
}

#[tokio::test]
async fn numbers_and_phone_ids_are_unique_within_an_org_but_the_identical_phone_may_be_added_again() {
    let (tenants, secrets) = (MemoryStore::default(), MemorySecrets::default());
    let (org, other) = (org(&tenants).await, org(&tenants).await);
    let add = |org: OrgId, number: &'static str, id: Option<&'static str>, provider: ProviderInput| {
        let (tenants, secrets) = (&tenants, &secrets);
        async move { add(tenants, secrets, &org, number, id, provider).await }
    };
    let first = add(org.clone(), "15550100001", Some("phone-a"), whatsapp("t1")).await.unwrap();
    assert_eq!(add(org.clone(), "15550100001", Some("phone-a"), whatsapp("t1")).await.unwrap(), first);
    assert_eq!(add(org.clone(), "15550100001", None, whatsapp("t1")).await.unwrap(), first);
    let by_number = Taken::Number("15550100001".into());
    for (number, id, provider, taken) in [
        ("15550100001", None, ProviderInput::Sandbox, by_number.clone()),
        ("15550100001", Some("phone-a"), whatsapp("t2"), by_number.clone()),
        ("15550100001", Some("phone-b"), whatsapp("t1"), by_number),
        ("15550100009", Some("phone-a"), whatsapp("t1"), Taken::PhoneId("phone-a".into())),
    ] {
        let err = add(org.clone(), number, id, provider).await.expect_err("a conflict");
        match &err {
            AdminError::PhoneTaken { org: at, taken: found, holder, holder_number } => {
                assert_eq!(
                    (at, found, holder.as_str(), holder_number.as_str()),
                    (&org, &taken, "phone-a", "15550100001")
                )
            }
            other => panic!("{other:?}"),
        }
    }
    add(other.clone(), "15550100001", Some("phone-a"), ProviderInput::Sandbox).await.expect("another org's");
    assert_eq!(list_phones(&tenants, &org).await.unwrap(), vec![first]);
}

#[tokio::test]
async fn phone_input_is_validated_before_anything_is_stored() {
    let (tenants, secrets) = (MemoryStore::default(), MemorySecrets::default());
    let org = org(&tenants).await;
    let version = |v: &str| match whatsapp("t") {
        ProviderInput::WhatsappCloud { phone_number_id, graph_url, secrets, .. } => {
            ProviderInput::WhatsappCloud { phone_number_id, graph_url, graph_version: v.into(), secrets }
        }
        other => other,
    };
    let cases = [
        ("1555", None, ProviderInput::Sandbox, Field::Number),
        ("1555010000012345", None, ProviderInput::Sandbox, Field::Number),
        ("+15550100001", None, ProviderInput::Sandbox, Field::Number),
        ("15550100001", Some("local"), ProviderInput::Sandbox, Field::PhoneId),
        ("15550100001", Some("phone-"), ProviderInput::Sandbox, Field::PhoneId),
        ("15550100001", Some("phone-ABC"), ProviderInput::Sandbox, Field::PhoneId),
        ("15550100001", None, version("21.0"), Field::GraphVersion),
        ("15550100001", None, version("v21"), Field::GraphVersion),
        ("15550100001", None, version("vX.0"), Field::GraphVersion),
        (
            "15550100001",
            None,
            ProviderInput::Http { url: "https://x.test".into(), secrets: HttpSecrets { signing_secret: " ".into() } },
            Field::SigningSecret,
        ),
    ];
    for (number, id, provider, field) in cases {
        let label = format!("{number} {id:?} {provider:?}");
        let err = add(&tenants, &secrets, &org, number, id, provider).await;
        assert!(matches!(err, Err(AdminError::Invalid { field: found, .. }) if found == field), "{label}: {err:?}");
    }
    for url in ["ftp://x.test", "https://", "https://x.test/a b"] {
        let err = add(&tenants, &secrets, &org, "15550100001", None, http(url)).await;
        let refused =
            matches!(err, Err(AdminError::Target { field: Field::EndpointUrl, refused: EgressError::NotAUrl }));
        assert!(refused, "{url}: {err:?}");
    }
    assert!(tenants.list_phones(&org).await.unwrap().is_empty());
    assert!(secrets.secrets.lock().unwrap().is_empty());
    for v in ["v21.0", "v9.12"] {
        let number = if v == "v21.0" { "15550100001" } else { "15550100002" };
        add(&tenants, &secrets, &org, number, None, version(v)).await.expect(v);
    }
}

#[tokio::test]
async fn removing_a_phone_by_number_or_id_deletes_its_secret() {
    let (tenants, secrets) = (MemoryStore::default(), MemorySecrets::default());
    let org = org(&tenants).await;
    let a = add(&tenants, &secrets, &org, "15550100001", None, whatsapp("t")).await.unwrap();
    let b = add(&tenants, &secrets, &org, "15550100002", None, http("https://x.test/hook")).await.unwrap();
    assert_eq!(remove_phone(&tenants, &secrets, &org, "15550100001").await.unwrap(), a);
    assert_eq!(remove_phone(&tenants, &secrets, &org, b.phone_id.as_str()).await.unwrap(), b);
    assert!(secrets.secrets.lock().unwrap().is_empty());
    assert!(list_phones(&tenants, &org).await.unwrap().is_empty());
    let err = remove_phone(&tenants, &secrets, &org, "15550100001").await.expect_err("gone");
    assert!(matches!(&err, AdminError::PhoneNotFound { phone, .. } if phone == "15550100001"), "{err:?}");
}

#[tokio::test]
async fn provider_urls_must_be_https_and_reach_public_addresses_only() {
    let (tenants, secrets) = (MemoryStore::default(), MemorySecrets::default());
    let org = org(&tenants).await;
    let graph = |url: &str| match whatsapp("t") {
        ProviderInput::WhatsappCloud { phone_number_id, graph_version, secrets, .. } => {
            ProviderInput::WhatsappCloud { phone_number_id, graph_url: url.into(), graph_version, secrets }
        }
        other => other,
    };
    let refused = [
        (http("http://x.test/hook"), None),
        (http("https://127.0.0.1:9/hook"), Some(Blocked::Loopback)),
        (http("https://10.0.0.8/hook"), Some(Blocked::Private)),
        (http("https://169.254.169.254/latest/meta-data/"), Some(Blocked::Metadata)),
        (http("https://[fd00:ec2::254]/"), Some(Blocked::Metadata)),
        (http("https://[fe80::1%25eth0]/hook"), None),
        (http("https://[fe80::1]/hook"), Some(Blocked::LinkLocal)),
        (http("https://[::ffff:127.0.0.1]/hook"), Some(Blocked::Loopback)),
        (http("https://intranet.test/hook"), Some(Blocked::Private)),
        (graph("https://[::ffff:169.254.169.254]"), Some(Blocked::Metadata)),
    ];
    for (provider, class) in refused {
        let label = format!("{provider:?}");
        let err = add(&tenants, &secrets, &org, "15550100001", None, provider).await.expect_err(&label);
        match (&err, class) {
            (AdminError::Target { refused: EgressError::Forbidden { class: found, .. }, .. }, Some(class)) => {
                assert_eq!(*found, class, "{label}")
            }
            (AdminError::Target { refused: EgressError::NotHttps { .. } | EgressError::NotAUrl, .. }, None) => {}
            _ => panic!("{label}: {err:?}"),
        }
    }
    // `localhost` through the system's resolver (/etc/hosts), as in a deployment.
    let err =
        add_under(&Egress::new(false), &tenants, &secrets, &org, "15550100001", None, http("https://localhost/h"))
            .await
            .expect_err("localhost");
    assert!(matches!(err, AdminError::Target { refused: EgressError::Forbidden { .. }, .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("the endpoint URL is refused: localhost resolves to ") && text.contains("loopback"),
        "{text}"
    );
    let err = add(&tenants, &secrets, &org, "15550100001", None, graph("https://nowhere.test")).await.unwrap_err();
    assert!(matches!(err, AdminError::Target { field: Field::GraphUrl, refused: EgressError::Unresolvable { .. } }));
    assert!(tenants.list_phones(&org).await.unwrap().is_empty());
    assert!(secrets.secrets.lock().unwrap().is_empty());

    // A stack that allows private targets (the local one) takes them, http included.
    let local = Egress::new(true);
    for (number, url) in [("15550100001", "http://127.0.0.1:9/hook"), ("15550100002", "http://gateway.internal/h")] {
        add_under(&local, &tenants, &secrets, &org, number, None, http(url)).await.expect(url);
    }
}

/// A message that failed three times and was dead-lettered at `when`, through the store's own
/// transitions; scheduled for `scheduled_at` when given.
async fn dead_lettered(store: &MemoryStore, org: &OrgId, when: &str, scheduled_at: Option<&str>) -> MessageRecord {
    let queue_id = QueueId::of(&UniqueId::generate());
    let record: MessageRecord = serde_json::from_value(json!({
        "org_id": org, "queue_id": queue_id, "unique_id": "3EB0ABC", "phone_id": "phone-a",
        "provider": "sandbox", "chat_id": "15550000001@c.us", "text": "hi", "status": "queued",
        "timeline": {"queued_at": now()}, "scheduled_at": scheduled_at, "expires_at": 0
    }))
    .unwrap();
    store.create(&record).await.unwrap();
    for attempt in 1..=3 {
        assert!(matches!(
            store.begin_attempt(org, &queue_id, None, now(), now()).await.unwrap(),
            crate::ports::BeginAttempt::Started(_)
        ));
        let result = if attempt < 3 {
            AttemptResult::Retry { error: "busy".into() }
        } else {
            AttemptResult::Failed { outcome: AttemptOutcome::TransientError, error: "failed after 3 attempts".into() }
        };
        assert!(store.finish_attempt(org, &queue_id, attempt, result, now()).await.unwrap());
    }
    store.mark_dead_lettered(org, &queue_id, 0, at(when)).await.unwrap();
    store.get(org, &queue_id).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_replay_requeues_dead_letters_with_a_fresh_job_and_keeps_their_history() {
    let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
    let org = OrgId::from("org-a");
    let first = dead_lettered(&store, &org, "2026-01-01T00:01:00.000Z", None).await;
    let second = dead_lettered(&store, &OrgId::from("org-b"), "2026-01-01T00:02:00.000Z", None).await;

    let report = replay_dead_letters(&store, &queue, &ReplaySelection::QueueId(first.queue_id.clone()), OPTIONS, now())
        .await
        .unwrap();
    assert_eq!(report.replayed, vec![first.clone()]);
    let replayed = store.get(&org, &first.queue_id).await.unwrap().unwrap();
    assert_eq!((replayed.status, replayed.attempts, replayed.attempt_log.len()), (Status::Queued, 3, 3));
    assert_eq!(
        (replayed.dead_lettered_at, replayed.status_description, replayed.timeline.failed_at),
        (None, None, None)
    );
    let jobs = queue.jobs.lock().unwrap().clone();
    assert_eq!(jobs, vec![Job::for_replay(&first).encode()]);
    assert_eq!((replayed.generation, Job::decode(&jobs[0]).unwrap().generation), (1, 1));
    assert_eq!(replayed.attempts_before_replay, 3, "the replay gets the full budget again");

    // Again: reported, not an error, and nothing enqueued.
    let again = replay_dead_letters(&store, &queue, &ReplaySelection::QueueId(first.queue_id.clone()), OPTIONS, now())
        .await
        .unwrap();
    assert_eq!((again.replayed.len(), again.not_dead_lettered.clone()), (0, vec![first.queue_id.clone()]));
    let all = replay_dead_letters(&store, &queue, &ReplaySelection::All, OPTIONS, now()).await.unwrap();
    assert_eq!(all.replayed, vec![second]);
    assert_eq!(queue.jobs.lock().unwrap().len(), 2);
    assert!(store.list_dead_lettered(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_job_that_cannot_be_enqueued_leaves_the_message_dead_lettered_as_it_was() {
    let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
    let org = OrgId::from("org-a");
    let record = dead_lettered(&store, &org, "2026-01-01T00:01:00.000Z", None).await;
    queue.fail_enqueue.store(true, Ordering::Relaxed);
    let report = replay_dead_letters(&store, &queue, &ReplaySelection::All, OPTIONS, now()).await.unwrap();
    assert!(report.replayed.is_empty());
    assert_eq!(report.failed.len(), 1);
    assert!(report.failed[0].1.contains("stays dead-lettered"), "{:?}", report.failed);
    assert_eq!(store.get(&org, &record.queue_id).await.unwrap().unwrap(), record);
    assert_eq!(store.list_dead_lettered(None).await.unwrap(), vec![record]);
}

#[tokio::test]
async fn a_replayed_scheduled_message_keeps_its_due_time() {
    let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
    let org = OrgId::from("org-a");
    let record = dead_lettered(&store, &org, "2026-01-01T00:01:00.000Z", Some("2026-01-02T00:00:00.000Z")).await;
    replay_dead_letters(&store, &queue, &ReplaySelection::All, OPTIONS, now()).await.unwrap();
    let job = Job::decode(&queue.jobs.lock().unwrap()[0]).unwrap();
    assert_eq!(job.due_at, Some(at("2026-01-02T00:00:00Z").epoch_secs()));
    assert_eq!(job, Job::for_replay(&record));
    // Kept a day past its schedule, not a day past the replay.
    let replayed = store.get(&record.org_id, &record.queue_id).await.unwrap().unwrap();
    assert_eq!(replayed.expires_at, at("2026-01-03T00:00:00Z").epoch_secs());
}

#[tokio::test]
async fn a_replay_renews_the_expiry_of_a_message_due_now() {
    let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
    let record = dead_lettered(&store, &OrgId::from("org-a"), "2026-01-01T00:01:00.000Z", None).await;
    let later = at("2026-01-20T00:00:00Z");
    replay_dead_letters(&store, &queue, &ReplaySelection::All, OPTIONS, later).await.unwrap();
    let replayed = store.get(&record.org_id, &record.queue_id).await.unwrap().unwrap();
    assert_eq!(replayed.expires_at, at("2026-01-21T00:00:00Z").epoch_secs());
}

#[tokio::test]
async fn a_message_whose_last_attempt_was_interrupted_is_replayed_only_with_force() {
    let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
    let org = OrgId::from("org-a");
    let record: MessageRecord = serde_json::from_value(json!({
        "org_id": org, "queue_id": QueueId::of(&UniqueId::generate()), "unique_id": "3EB0ABD", "phone_id": "phone-a",
        "provider": "sandbox", "chat_id": "15550000001@c.us", "text": "hi", "status": "queued",
        "timeline": {"queued_at": now()}, "expires_at": 0
    }))
    .unwrap();
    store.create(&record).await.unwrap();
    // Its worker died mid-attempt; the job reached the DLQ after the lease.
    store.begin_attempt(&org, &record.queue_id, None, now(), now()).await.unwrap();
    let dead_at = at("2026-01-01T00:05:00Z");
    assert_eq!(
        store.mark_dead_lettered(&org, &record.queue_id, 0, dead_at).await.unwrap(),
        crate::ports::DeadLetterMark::MarkedFailed
    );
    let dead = store.get(&org, &record.queue_id).await.unwrap().unwrap();

    let report = replay_dead_letters(&store, &queue, &ReplaySelection::All, OPTIONS, dead_at).await.unwrap();
    assert_eq!((report.replayed.len(), report.interrupted.clone()), (0, vec![dead.clone()]));
    assert!(queue.jobs.lock().unwrap().is_empty());
    assert_eq!(store.get(&org, &record.queue_id).await.unwrap().unwrap(), dead, "still dead-lettered");

    let forced = ReplayOptions { force: true, ..OPTIONS };
    let report = replay_dead_letters(&store, &queue, &ReplaySelection::All, forced, dead_at).await.unwrap();
    assert_eq!((report.replayed, report.interrupted.len()), (vec![dead], 0));
    assert_eq!(queue.jobs.lock().unwrap().len(), 1);
}
