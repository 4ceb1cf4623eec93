//! Administration: orgs, API keys, phones and dead-letter replay, shared by `outbox-admin` and the local seed.

use chrono::Utc;
use tracing::warn;

use crate::domain::clock::rfc3339;
use crate::domain::job::Job;
use crate::domain::message::MessageRecord;
use crate::domain::tenant::{
    ApiKeyRecord, HttpSecrets, NewApiKey, Org, OrgId, Phone, ProviderSettings, WhatsappCloudSecrets,
};
use crate::ports::{JobQueue, QueueError, SecretError, SecretStore, StatusStore, StoreError, TenantStore};

pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com";
pub const DEFAULT_GRAPH_VERSION: &str = "v21.0";

/// Why an admin operation did not happen; every message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}; check that DynamoDB is reachable with these credentials, then run the command again")]
    Store(#[from] StoreError),
    #[error("{0}; check that Secrets Manager is reachable with these credentials, then run the command again")]
    Secret(#[from] SecretError),
    #[error("{0}; check that the jobs queue is reachable with these credentials, then run the command again")]
    Queue(#[from] QueueError),
}

fn now() -> String {
    rfc3339(Utc::now())
}

/// Creates an org with a fresh id.
pub async fn create_org(tenants: &dyn TenantStore, name: &str) -> Result<OrgId, AdminError> {
    let org = OrgId::generate();
    ensure_org(tenants, &org, name).await?;
    Ok(org)
}

/// Creates `org` unless it exists already (the local seed's fixed org).
pub async fn ensure_org(tenants: &dyn TenantStore, org: &OrgId, name: &str) -> Result<(), AdminError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AdminError::Invalid("an org name is 1 to 100 characters, e.g. --name \"Acme Support\"".into()));
    }
    if tenants.get_org(org).await?.is_none() {
        tenants.put_org(org, name, &now()).await?;
    }
    Ok(())
}

async fn require_org(tenants: &dyn TenantStore, org: &OrgId) -> Result<Org, AdminError> {
    tenants.get_org(org).await?.ok_or_else(|| {
        AdminError::NotFound(format!(
            "org {org} not found: create it with `outbox-admin org create --name NAME`, or check the id"
        ))
    })
}

/// A new random key for `org`; the caller shows its secret once, only the hash is stored.
pub async fn create_key(
    tenants: &dyn TenantStore,
    org: &OrgId,
    rate_limit: Option<u32>,
) -> Result<NewApiKey, AdminError> {
    register_key(tenants, NewApiKey::generate(org.clone(), rate_limit, &now())).await
}

/// Stores a key's hash and record for an existing org (the local seed registers its known key).
pub async fn register_key(tenants: &dyn TenantStore, key: NewApiKey) -> Result<NewApiKey, AdminError> {
    if key.record.rate_limit == Some(0) {
        return Err(AdminError::Invalid(
            "--rate-limit is requests per minute and at least 1; leave it out for the deployment default".into(),
        ));
    }
    require_org(tenants, &key.record.org_id).await?;
    tenants.put_api_key(&key.hash, &key.record).await?;
    Ok(key)
}

pub async fn list_keys(tenants: &dyn TenantStore, org: &OrgId) -> Result<Vec<ApiKeyRecord>, AdminError> {
    require_org(tenants, org).await?;
    Ok(tenants.list_api_keys(org).await?)
}

/// Revokes one of the org's keys; revoking it again keeps the first `revoked_at`.
pub async fn revoke_key(
    tenants: &dyn TenantStore,
    org: &OrgId,
    key_id: &str,
    now: &str,
) -> Result<ApiKeyRecord, AdminError> {
    tenants.revoke_api_key(org, key_id, now).await?.ok_or_else(|| {
        AdminError::NotFound(format!(
            "org {org} has no key {key_id}: `outbox-admin key list --org {org}` shows its keys"
        ))
    })
}

/// A phone's provider as given to `add_phone`, secrets included; they are split off into the secret store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderInput {
    Sandbox,
    WhatsappCloud { phone_number_id: String, graph_url: String, graph_version: String, secrets: WhatsappCloudSecrets },
    Http { url: String, secrets: HttpSecrets },
}

impl ProviderInput {
    /// The secret half as the one JSON secret a provider reads; `None` for the sandbox.
    fn secret_json(&self) -> Option<String> {
        // Structs of strings always serialise.
        match self {
            ProviderInput::Sandbox => None,
            ProviderInput::WhatsappCloud { secrets, .. } => Some(serde_json::to_string(secrets).unwrap_or_default()),
            ProviderInput::Http { secrets, .. } => Some(serde_json::to_string(secrets).unwrap_or_default()),
        }
    }

    /// The settings kept in the table: everything but the secrets, which `secret_ref` points to.
    fn settings(&self, secret_ref: &str) -> ProviderSettings {
        match self {
            ProviderInput::Sandbox => ProviderSettings::Sandbox,
            ProviderInput::WhatsappCloud { phone_number_id, graph_url, graph_version, .. } => {
                ProviderSettings::WhatsappCloud {
                    phone_number_id: phone_number_id.clone(),
                    graph_url: graph_url.trim_end_matches('/').to_string(),
                    graph_version: graph_version.clone(),
                    secret_ref: secret_ref.to_string(),
                }
            }
            ProviderInput::Http { url, .. } => {
                ProviderSettings::Http { url: url.clone(), secret_ref: secret_ref.to_string() }
            }
        }
    }

    fn validate(&self) -> Result<(), AdminError> {
        match self {
            ProviderInput::Sandbox => Ok(()),
            ProviderInput::WhatsappCloud { phone_number_id, graph_url, graph_version, secrets } => {
                if phone_number_id.is_empty() || !phone_number_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(invalid(
                        "--phone-number-id must be the phone number ID from Meta's WhatsApp Manager (letters and digits)",
                    ));
                }
                validate_url("--graph-url", graph_url)?;
                let version = graph_version.strip_prefix('v').and_then(|v| v.split_once('.'));
                let numeric = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
                if !version.is_some_and(|(major, minor)| numeric(major) && numeric(minor)) {
                    return Err(invalid(&format!(
                        "--graph-version {graph_version:?} must look like {DEFAULT_GRAPH_VERSION} (v, major, dot, minor)"
                    )));
                }
                require_secret("--access-token", &secrets.access_token)?;
                require_secret("--app-secret", &secrets.app_secret)?;
                require_secret("--verify-token", &secrets.verify_token)
            }
            ProviderInput::Http { url, secrets } => {
                validate_url("--url", url)?;
                require_secret("--signing-secret", &secrets.signing_secret)
            }
        }
    }
}

fn invalid(message: &str) -> AdminError {
    AdminError::Invalid(message.to_string())
}

fn require_secret(flag: &str, value: &str) -> Result<(), AdminError> {
    if value.trim().is_empty() {
        return Err(invalid(&format!("{flag} must not be empty")));
    }
    Ok(())
}

fn validate_url(flag: &str, url: &str) -> Result<(), AdminError> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
    if host.is_none_or(str::is_empty) || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(&format!("{flag} {url:?} must be an http(s) URL, e.g. https://example.com/outbox")));
    }
    Ok(())
}

fn validate_number(number: &str) -> Result<(), AdminError> {
    if !(5..=15).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(&format!(
            "--number {number:?} must be 5 to 15 digits, country code first, without + or spaces (e.g. 15550100000)"
        )));
    }
    Ok(())
}

fn validate_phone_id(phone_id: &str) -> Result<(), AdminError> {
    let suffix = phone_id.strip_prefix("phone-").unwrap_or_default();
    if suffix.is_empty()
        || phone_id.len() > 64
        || !suffix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(invalid(&format!(
            "--phone-id {phone_id:?} must be `phone-` then lowercase letters, digits or dashes (at most 64 characters), \
             or left out to generate one"
        )));
    }
    Ok(())
}

/// Where a phone's credentials live in the secret store.
pub fn secret_name(org: &OrgId, phone_id: &str) -> String {
    format!("outbox/{org}/{phone_id}")
}

/// Adds a phone to an org; its credentials go to the secret store, the table keeps only their reference.
/// Adding the identical phone again (same number, phone_id, settings and secrets) changes nothing.
pub async fn add_phone(
    tenants: &dyn TenantStore,
    secrets: &dyn SecretStore,
    org: &OrgId,
    number: &str,
    phone_id: Option<String>,
    provider: ProviderInput,
) -> Result<Phone, AdminError> {
    validate_number(number)?;
    if let Some(phone_id) = &phone_id {
        validate_phone_id(phone_id)?;
    }
    provider.validate()?;
    require_org(tenants, org).await?;
    let phones = tenants.list_phones(org).await?;
    if let Some(existing) = phones.iter().find(|p| p.number == number || Some(&p.phone_id) == phone_id.as_ref()) {
        let same_phone = existing.number == number && phone_id.as_ref().is_none_or(|id| *id == existing.phone_id);
        if same_phone && same_provider(secrets, existing, &provider).await? {
            return Ok(existing.clone());
        }
        let taken = if existing.number == number {
            format!("number {number}")
        } else {
            format!("phone_id {}", existing.phone_id)
        };
        return Err(AdminError::Conflict(format!(
            "org {org} already has {taken} (phone {} / {}): remove it first with \
             `outbox-admin phone remove --org {org} --phone {}`, or choose another",
            existing.phone_id, existing.number, existing.phone_id
        )));
    }

    let phone_id = phone_id.unwrap_or_else(Phone::generate_id);
    let settings = match provider.secret_json() {
        None => provider.settings(""),
        Some(secret) => provider.settings(&secrets.put(&secret_name(org, &phone_id), &secret).await?),
    };
    let phone =
        Phone { org_id: org.clone(), phone_id, number: number.to_string(), provider: settings, created_at: now() };
    if let Err(err) = tenants.put_phone(&phone).await {
        // Credentials that no phone refers to would only be a liability.
        if let Some(reference) = phone.provider.secret_ref() {
            if let Err(cleanup) = secrets.delete(reference).await {
                warn!(secret = reference, error = %cleanup, "could not delete the credentials of a phone that was not added");
            }
        }
        return Err(err.into());
    }
    Ok(phone)
}

/// Whether `existing` already has exactly `provider`'s settings and secrets.
async fn same_provider(
    secrets: &dyn SecretStore,
    existing: &Phone,
    provider: &ProviderInput,
) -> Result<bool, AdminError> {
    let secret_ref = existing.provider.secret_ref();
    if existing.provider != provider.settings(secret_ref.unwrap_or_default()) {
        return Ok(false);
    }
    let (Some(secret_ref), Some(wanted)) = (secret_ref, provider.secret_json()) else {
        return Ok(true);
    };
    match secrets.get(secret_ref).await {
        Ok(stored) => Ok(stored == wanted),
        Err(SecretError::NotFound(_)) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

pub async fn list_phones(tenants: &dyn TenantStore, org: &OrgId) -> Result<Vec<Phone>, AdminError> {
    require_org(tenants, org).await?;
    Ok(tenants.list_phones(org).await?)
}

/// Removes the phone named by number or phone_id, and its credentials.
pub async fn remove_phone(
    tenants: &dyn TenantStore,
    secrets: &dyn SecretStore,
    org: &OrgId,
    number_or_phone_id: &str,
) -> Result<Phone, AdminError> {
    let phones = list_phones(tenants, org).await?;
    let phone = phones.into_iter().find(|p| p.answers_to(number_or_phone_id)).ok_or_else(|| {
        AdminError::NotFound(format!(
            "org {org} has no phone {number_or_phone_id}: `outbox-admin phone list --org {org}` shows its phones"
        ))
    })?;
    // The secret first: if deleting the phone then fails, running the command again finishes the job.
    if let Some(reference) = phone.provider.secret_ref() {
        secrets.delete(reference).await?;
    }
    tenants.delete_phone(org, &phone.phone_id).await?;
    Ok(phone)
}

/// Which dead-lettered messages to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaySelection {
    QueueId(String),
    All,
}

/// What a replay did, message by message.
#[derive(Debug, Default)]
pub struct ReplayReport {
    /// Requeued with a fresh job, as they were before the replay.
    pub replayed: Vec<MessageRecord>,
    /// Named or listed, but not (or no longer) dead-lettered: nothing to do.
    pub not_dead_lettered: Vec<String>,
    /// Could not be enqueued: `(queue_id, what happened)`.
    pub failed: Vec<(String, String)>,
}

/// Moves dead-lettered messages back to `queued`, each with a fresh job that gets the queue's
/// full receive count again. The records are the source of truth, found through the `DLQ` index.
/// A process killed between a requeue and its enqueue leaves that record queued without a job,
/// the same window the send path has between its write and its enqueue.
pub async fn replay_dead_letters(
    store: &dyn StatusStore,
    queue: &dyn JobQueue,
    selection: &ReplaySelection,
) -> Result<ReplayReport, AdminError> {
    let wanted = match selection {
        ReplaySelection::QueueId(queue_id) => Some(queue_id.as_str()),
        ReplaySelection::All => None,
    };
    let records = store.list_dead_lettered(wanted).await?;
    let mut report = ReplayReport::default();
    if let (Some(queue_id), true) = (wanted, records.is_empty()) {
        report.not_dead_lettered.push(queue_id.to_string());
    }
    for record in records {
        // Record first, then job: a job that found the record still `failed` would be acknowledged and lost.
        if !store.requeue_dead_lettered(&record.org_id, &record.queue_id).await? {
            report.not_dead_lettered.push(record.queue_id);
            continue;
        }
        let job = Job::new(record.org_id.clone(), record.queue_id.clone(), record.phone_id.clone());
        let Err(err) = queue.enqueue(&job).await else {
            report.replayed.push(record);
            continue;
        };
        let failure = match store.restore_dead_lettered(&record).await {
            Ok(true) => format!("{err}; it stays dead-lettered, replay it again later"),
            Ok(false) => format!("{err}; its record changed meanwhile, check its status"),
            Err(store_err) => format!(
                "{err}; putting it back also failed ({store_err}): it is queued without a job, send the message again"
            ),
        };
        report.failed.push((record.queue_id, failure));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use serde_json::json;

    use super::*;
    use crate::adapters::memory::{MemoryQueue, MemorySecrets, MemoryStore};
    use crate::domain::message::{AttemptOutcome, Status};
    use crate::domain::tenant::KeyHash;
    use crate::ports::AttemptResult;

    const NOW: &str = "2026-01-01T00:00:00.000Z";

    async fn org(tenants: &MemoryStore) -> OrgId {
        create_org(tenants, "Acme").await.expect("org")
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
        let key = create_key(&tenants, &org, Some(60)).await.expect("key");
        let stored = tenants.find_api_key(&KeyHash::of(&key.secret)).await.unwrap().expect("found by hash");
        assert_eq!(stored, key.record);
        let listed = list_keys(&tenants, &org).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].rate_limit, listed[0].key_id.as_str()), (Some(60), key.record.key_id.as_str()));
        assert!(key.secret.starts_with(&listed[0].prefix) && listed[0].prefix.len() < key.secret.len());
    }

    #[tokio::test]
    async fn keys_and_phones_need_an_existing_org() {
        let tenants = MemoryStore::default();
        let nobody = OrgId::from("org-nobody".to_string());
        for err in [
            create_key(&tenants, &nobody, None).await.err(),
            list_keys(&tenants, &nobody).await.err(),
            list_phones(&tenants, &nobody).await.err(),
            add_phone(&tenants, &MemorySecrets::default(), &nobody, "15550100001", None, ProviderInput::Sandbox)
                .await
                .err(),
        ] {
            let err = err.expect("an error");
            assert!(matches!(err, AdminError::NotFound(_)), "{err:?}");
            assert!(err.to_string().contains("outbox-admin org create"), "{err}");
        }
        let org = org(&tenants).await;
        assert!(matches!(create_key(&tenants, &org, Some(0)).await, Err(AdminError::Invalid(_))));
        assert!(matches!(create_org(&tenants, "  ").await, Err(AdminError::Invalid(_))));
    }

    #[tokio::test]
    async fn revoking_needs_the_orgs_own_key_and_keeps_the_first_time() {
        let tenants = MemoryStore::default();
        let (org, other) = (org(&tenants).await, org(&tenants).await);
        let key = create_key(&tenants, &org, None).await.unwrap();
        let key_id = key.record.key_id.as_str();
        assert!(matches!(revoke_key(&tenants, &other, key_id, NOW).await, Err(AdminError::NotFound(_))));
        assert!(matches!(revoke_key(&tenants, &org, "key-unknown", NOW).await, Err(AdminError::NotFound(_))));
        assert_eq!(revoke_key(&tenants, &org, key_id, NOW).await.unwrap().revoked_at.as_deref(), Some(NOW));
        let again = revoke_key(&tenants, &org, key_id, "2026-02-01T00:00:00.000Z").await.unwrap();
        assert_eq!(again.revoked_at.as_deref(), Some(NOW));
        let stored = tenants.find_api_key(&key.hash).await.unwrap().unwrap();
        assert_eq!(stored.revoked_at.as_deref(), Some(NOW));
    }

    #[tokio::test]
    async fn provider_secrets_go_to_the_secret_store_and_the_phone_keeps_a_reference() {
        let (tenants, secrets) = (MemoryStore::default(), MemorySecrets::default());
        let org = org(&tenants).await;
        let phone = add_phone(&tenants, &secrets, &org, "15550100001", None, whatsapp("EAAG-token")).await.unwrap();
        let name = secret_name(&org, &phone.phone_id);
        assert_eq!(phone.provider.secret_ref(), Some(name.as_str()));
        let stored: serde_json::Value = serde_json::from_str(&secrets.get(&name).await.unwrap()).unwrap();
        assert_eq!(stored, json!({"access_token": "EAAG-token", "app_secret": "app-secret", "verify_token": "verify"}));
        let item = serde_json::to_string(&tenants.get_phone(&org, &phone.phone_id).await.unwrap()).unwrap();
        assert!(!item.contains("EAAG-token") && !item.contains("app-secret"), "{item}");

        let hook =
            add_phone(&tenants, &secrets, &org, "15550100002", Some("phone-hook".into()), http("https://x.test/h"))
                .await
                .unwrap();
        let stored = secrets.get(hook.provider.secret_ref().unwrap()).await.unwrap();
        assert_eq!(stored, r#"{"signing_secret":"signing"}"#);
        let secret_ref = secret_name(&org, "phone-hook");
        assert_eq!(hook.provider, ProviderSettings::Http { url: "https://x.test/h".into(), secret_ref });
    }

    #[tokio::test]
    async fn numbers_and_phone_ids_are_unique_within_an_org_but_the_identical_phone_may_be_added_again() {
        let (tenants, secrets) = (MemoryStore::default(), MemorySecrets::default());
        let (org, other) = (org(&tenants).await, org(&tenants).await);
        let add = |org: OrgId, number: &'static str, id: Option<&'static str>, provider: ProviderInput| {
            let (tenants, secrets) = (&tenants, &secrets);
            async move { add_phone(tenants, secrets, &org, number, id.map(String::from), provider).await }
        };
        let first = add(org.clone(), "15550100001", Some("phone-a"), whatsapp("t1")).await.unwrap();
        assert_eq!(add(org.clone(), "15550100001", Some("phone-a"), whatsapp("t1")).await.unwrap(), first);
        assert_eq!(add(org.clone(), "15550100001", None, whatsapp("t1")).await.unwrap(), first);
        for (number, id, provider) in [
            ("15550100001", None, ProviderInput::Sandbox),
            ("15550100001", Some("phone-a"), whatsapp("t2")),
            ("15550100001", Some("phone-b"), whatsapp("t1")),
            ("15550100009", Some("phone-a"), whatsapp("t1")),
        ] {
            let err = add(org.clone(), number, id, provider).await.expect_err("a conflict");
            assert!(matches!(err, AdminError::Conflict(_)), "{err:?}");
            assert!(err.to_string().contains("outbox-admin phone remove"), "{err}");
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
            ("1555", None, ProviderInput::Sandbox),
            ("1555010000012345", None, ProviderInput::Sandbox),
            ("+15550100001", None, ProviderInput::Sandbox),
            ("15550100001", Some("local"), ProviderInput::Sandbox),
            ("15550100001", Some("phone-"), ProviderInput::Sandbox),
            ("15550100001", Some("phone-ABC"), ProviderInput::Sandbox),
            ("15550100001", None, http("ftp://x.test")),
            ("15550100001", None, http("https://")),
            ("15550100001", None, http("https://x.test/a b")),
            ("15550100001", None, version("21.0")),
            ("15550100001", None, version("v21")),
            ("15550100001", None, version("vX.0")),
            (
                "15550100001",
                None,
                ProviderInput::Http {
                    url: "https://x.test".into(),
                    secrets: HttpSecrets { signing_secret: " ".into() },
                },
            ),
        ];
        for (number, id, provider) in cases {
            let label = format!("{number} {id:?} {provider:?}");
            let err = add_phone(&tenants, &secrets, &org, number, id.map(String::from), provider).await;
            assert!(matches!(err, Err(AdminError::Invalid(_))), "{label}: {err:?}");
        }
        assert!(tenants.list_phones(&org).await.unwrap().is_empty());
        assert!(secrets.secrets.lock().unwrap().is_empty());
        for v in ["v21.0", "v9.12"] {
            let number = if v == "v21.0" { "15550100001" } else { "15550100002" };
            add_phone(&tenants, &secrets, &org, number, None, version(v)).await.expect(v);
        }
    }

    #[tokio::test]
    async fn removing_a_phone_by_number_or_id_deletes_its_secret() {
        let (tenants, secrets) = (MemoryStore::default(), MemorySecrets::default());
        let org = org(&tenants).await;
        let a = add_phone(&tenants, &secrets, &org, "15550100001", None, whatsapp("t")).await.unwrap();
        let b =
            add_phone(&tenants, &secrets, &org, "15550100002", None, http("http://127.0.0.1:9/hook")).await.unwrap();
        assert_eq!(remove_phone(&tenants, &secrets, &org, "15550100001").await.unwrap(), a);
        assert_eq!(remove_phone(&tenants, &secrets, &org, &b.phone_id).await.unwrap(), b);
        assert!(secrets.secrets.lock().unwrap().is_empty());
        assert!(list_phones(&tenants, &org).await.unwrap().is_empty());
        let err = remove_phone(&tenants, &secrets, &org, "15550100001").await.expect_err("gone");
        assert!(matches!(err, AdminError::NotFound(_)), "{err:?}");
    }

    /// A message that failed three times and was dead-lettered, through the store's own transitions.
    async fn dead_lettered(store: &MemoryStore, org: &OrgId, at: &str) -> MessageRecord {
        let queue_id = uuid::Uuid::new_v4().to_string();
        let record: MessageRecord = serde_json::from_value(json!({
            "org_id": org, "queue_id": queue_id, "unique_id": "3EB0ABC", "phone_id": "phone-a",
            "provider": "sandbox", "chat_id": "15550000001@c.us", "text": "hi", "status": "queued",
            "timeline": {"queued_at": NOW}, "expires_at": 0
        }))
        .unwrap();
        store.create(&record).await.unwrap();
        for attempt in 1..=3 {
            assert!(matches!(
                store.begin_attempt(org, &queue_id, NOW, NOW).await.unwrap(),
                crate::ports::BeginAttempt::Started(_)
            ));
            let result = if attempt < 3 {
                AttemptResult::Retry { error: "busy".into() }
            } else {
                AttemptResult::Failed {
                    outcome: AttemptOutcome::TransientError,
                    error: "failed after 3 attempts".into(),
                }
            };
            assert!(store.finish_attempt(org, &queue_id, attempt, result, NOW).await.unwrap());
        }
        store.mark_dead_lettered(org, &queue_id, at).await.unwrap();
        store.get(org, &queue_id).await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn a_replay_requeues_dead_letters_with_a_fresh_job_and_keeps_their_history() {
        let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
        let org = OrgId::from("org-a".to_string());
        let first = dead_lettered(&store, &org, "2026-01-01T00:01:00.000Z").await;
        let second = dead_lettered(&store, &OrgId::from("org-b".to_string()), "2026-01-01T00:02:00.000Z").await;

        let report =
            replay_dead_letters(&store, &queue, &ReplaySelection::QueueId(first.queue_id.clone())).await.unwrap();
        assert_eq!(report.replayed, vec![first.clone()]);
        let replayed = store.get(&org, &first.queue_id).await.unwrap().unwrap();
        assert_eq!((replayed.status, replayed.attempts, replayed.attempt_log.len()), (Status::Queued, 3, 3));
        assert_eq!(
            (replayed.dead_lettered_at, replayed.status_description, replayed.timeline.failed_at),
            (None, None, None)
        );
        let jobs = queue.jobs.lock().unwrap().clone();
        assert_eq!(jobs, vec![Job::new(org.clone(), first.queue_id.clone(), "phone-a".into()).encode()]);

        // Again: reported, not an error, and nothing enqueued.
        let again =
            replay_dead_letters(&store, &queue, &ReplaySelection::QueueId(first.queue_id.clone())).await.unwrap();
        assert_eq!((again.replayed.len(), again.not_dead_lettered.clone()), (0, vec![first.queue_id.clone()]));
        let all = replay_dead_letters(&store, &queue, &ReplaySelection::All).await.unwrap();
        assert_eq!(all.replayed, vec![second]);
        assert_eq!(queue.jobs.lock().unwrap().len(), 2);
        assert!(store.list_dead_lettered(None).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_job_that_cannot_be_enqueued_leaves_the_message_dead_lettered_as_it_was() {
        let (store, queue) = (MemoryStore::default(), MemoryQueue::default());
        let org = OrgId::from("org-a".to_string());
        let record = dead_lettered(&store, &org, "2026-01-01T00:01:00.000Z").await;
        queue.fail_enqueue.store(true, Ordering::Relaxed);
        let report = replay_dead_letters(&store, &queue, &ReplaySelection::All).await.unwrap();
        assert!(report.replayed.is_empty());
        assert_eq!(report.failed.len(), 1);
        assert!(report.failed[0].1.contains("stays dead-lettered"), "{:?}", report.failed);
        assert_eq!(store.get(&org, &record.queue_id).await.unwrap().unwrap(), record);
        assert_eq!(store.list_dead_lettered(None).await.unwrap(), vec![record]);
    }
}
