//! The local stack: the same router and consumers as in Lambda, against an AWS emulator, with
//! the emulator's resources provisioned (`provision`), SQS polled like Lambda's event source
//! mapping does (`event_source`), and the table's stream read in tumbling windows like Lambda's
//! stream event source mapping does (`stream`). Used by `outbox-local` (`make run`), `outbox-admin` without a
//! deployment, the integration tests and the bench; compiled only with the `local` feature.

mod drain;
pub mod event_source;
pub mod provision;
pub mod store_faults;
pub mod stream;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

use crate::Config;
use crate::adapters::aws::AwsClients;
use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::secrets_manager::SecretsManager;
use crate::admin::{self, AdminError, NewPhone, ProviderInput};
use crate::domain::ids::{OrgId, PhoneId};
use crate::domain::tenant::NewApiKey;
use crate::net::egress::Egress;
use crate::ports::{Clock, StoreError, SystemClock};
use crate::providers::Providers;
use crate::wiring::MessageStore;
use event_source::EventSource;
use provision::{ProvisionError, ProvisionSpec, provision};

pub const LOCAL_ORG: &str = "org-local";
pub const LOCAL_API_KEY: &str = "local-dev-key";
pub const LOCAL_PHONE_NUMBER: &str = "15550100000";
pub const LOCAL_PHONE_ID: &str = "phone-local";

/// How the local stack differs from a deployment.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    pub endpoint: String,
    /// Prefix of the table, queue and bucket names.
    pub prefix: String,
    /// Overrides from the environment (`OUTBOX_*`), applied over the local defaults.
    pub overrides: Vec<(String, String)>,
}

/// A variable of the environment, or `default` when it is unset or empty.
pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

impl LocalSettings {
    /// `AWS_ENDPOINT_URL` (moto's default port), `OUTBOX_LOCAL_PREFIX`, and every `OUTBOX_*` override.
    pub fn from_env() -> LocalSettings {
        LocalSettings {
            endpoint: env_or("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            prefix: env_or("OUTBOX_LOCAL_PREFIX", "outbox-local"),
            // OUTBOX_ADMIN_* are outbox-admin's secrets, not configuration: they are not copied around.
            overrides: std::env::vars()
                .filter(|(k, _)| k.starts_with("OUTBOX_") && !k.starts_with("OUTBOX_ADMIN_"))
                .collect(),
        }
    }
}

/// Local defaults: a 1 s retry base (AWS uses at least 10 s) and short leases, so a laptop sees
/// retries and crash recovery within seconds; provider URLs may be http and private, so that a
/// gateway on this machine (or a test's loopback fake) can be a phone's endpoint.
const LOCAL_DEFAULTS: [(&str, &str); 6] = [
    ("OUTBOX_RETRY_BASE_SECS", "1"),
    ("OUTBOX_WEBHOOK_RETRY_BASE_SECS", "1"),
    ("OUTBOX_DELIVERY_TIMEOUT_SECS", "10"),
    ("OUTBOX_AUTH_CACHE_SECS", "2"),
    ("OUTBOX_RETENTION_DAYS", "30"),
    ("OUTBOX_ALLOW_PRIVATE_TARGETS", "true"),
];

/// The jobs queue's visibility timeout locally: above the lease, like template.yaml's 6×.
/// `OUTBOX_LOCAL_VISIBILITY_TIMEOUT_SECS` overrides it (the soak shortens it with the lease, so
/// a killed consumer's jobs come back within seconds); it only applies when the queue is created.
const LOCAL_VISIBILITY_TIMEOUT_SECS: u32 = 30;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads the configuration (overrides over the local defaults), then creates the resources it
/// names (idempotently) and returns it pointing at them. The configuration comes first, so the
/// queue's redrive count is `deliver::max_receives(Config::max_attempts)` and a malformed variable stops before any request.
pub async fn prepare(settings: &LocalSettings) -> Result<(Config, AwsClients), LocalError> {
    let override_of = |name: &str| settings.overrides.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let spec = ProvisionSpec {
        prefix: settings.prefix.clone(),
        visibility_timeout_secs: override_of("OUTBOX_LOCAL_VISIBILITY_TIMEOUT_SECS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(LOCAL_VISIBILITY_TIMEOUT_SECS),
    };
    // The queue URLs are only known once the queues exist; until then their names stand in.
    let planned = [
        ("OUTBOX_TABLE", spec.table()),
        ("OUTBOX_QUEUE_URL", spec.queue()),
        ("OUTBOX_DLQ_URL", spec.dlq()),
        ("OUTBOX_MEDIA_BUCKET", spec.bucket()),
        ("AWS_ENDPOINT_URL", settings.endpoint.clone()),
    ];
    let mut config = Config::from_lookup(|name| {
        override_of(name)
            .or_else(|| planned.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
            .or_else(|| LOCAL_DEFAULTS.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    })?;
    let aws = AwsClients::emulator(&settings.endpoint).await;
    let provisioned = provision(&aws, &spec, crate::deliver::max_receives(config.max_attempts)).await?;
    if override_of("OUTBOX_QUEUE_URL").is_none() {
        config.queue_url = provisioned.queue_url;
    }
    if override_of("OUTBOX_DLQ_URL").is_none() {
        config.dlq_url = provisioned.dlq_url;
    }
    if override_of("OUTBOX_EVENTS_QUEUE_URL").is_none() {
        config.events_queue_url = Some(provisioned.events_queue_url);
    }
    if override_of("OUTBOX_EVENTS_DLQ_URL").is_none() {
        config.events_dlq_url = Some(provisioned.events_dlq_url);
    }
    Ok((config, aws))
}

/// The local org, key and phone from contract.md, through the same admin functions as `outbox-admin`;
/// safe to run again.
pub async fn seed(config: &Config, aws: &AwsClients) -> Result<(), AdminError> {
    let tenants = DynamoStore::new(aws.dynamodb.clone(), &config.table);
    let secrets = SecretsManager::new(aws.secrets.clone());
    let org = OrgId::from(LOCAL_ORG);
    let now = SystemClock.now();
    admin::ensure_org(&tenants, &org, "Local development", now).await?;
    let key = NewApiKey::from_secret(LOCAL_API_KEY.into(), org.clone(), None, now);
    admin::register_key(&tenants, key).await?;
    let phone = NewPhone {
        number: LOCAL_PHONE_NUMBER.into(),
        phone_id: Some(PhoneId::from(LOCAL_PHONE_ID)),
        provider: ProviderInput::Sandbox,
    };
    admin::add_phone(&tenants, &secrets, &Egress::new(config.allow_private_targets), &org, phone, now).await?;
    Ok(())
}

/// The message store of a local process: the table's, behind `OUTBOX_STORE_FAULTS`' throttles
/// when that is set. Fails on a malformed spec or a log that cannot be opened.
pub fn message_store(config: &Config, aws: &AwsClients) -> Result<MessageStore, String> {
    let messages = crate::wiring::message_store(config, aws);
    match store_faults::StoreFaults::from_env()? {
        None => Ok(messages),
        Some(faults) => {
            info!(writes = faults.writes, "DynamoDB throttles injected into the message store's writes");
            faults.wrap(messages).map_err(|err| format!("{}: the log: {err}", store_faults::STORE_FAULTS_VAR))
        }
    }
}

/// Serves the API router until `shutdown` turns true.
pub async fn serve_api(
    config: &Config,
    aws: &AwsClients,
    messages: MessageStore,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let router = crate::api::router(crate::wiring::app_state_on(
        config,
        aws,
        Arc::new(DynamoStore::new(aws.dynamodb.clone(), &config.table)),
        messages,
    ))
    .layer(axum::middleware::from_fn(drain::read_whole_body));
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}

/// Runs the delivery consumer (the jobs queue's event source) until `shutdown` turns true; a
/// batch in flight finishes.
pub async fn run_delivery(
    config: &Config,
    aws: &AwsClients,
    messages: MessageStore,
    providers: Providers,
    poll_wait: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let mut delivery = crate::wiring::delivery(config, aws, providers);
    delivery.store = messages.status;
    let jobs = EventSource {
        sqs: aws.sqs.clone(),
        queue_url: config.queue_url.clone(),
        wait: poll_wait,
        timeout: config.delivery_timeout,
    };
    info!(queue = %config.queue_url, "delivery polling");
    jobs.run(|event, deadline| crate::deliver::handle_batch(&delivery, event, deadline), shutdown).await;
}

/// Runs the dead-letter consumer (the DLQ's event source) until `shutdown` turns true.
pub async fn run_dead_letters(
    config: &Config,
    aws: &AwsClients,
    messages: MessageStore,
    poll_wait: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let mut dead_letters = crate::wiring::dead_letters(config, aws);
    dead_letters.store = messages.status;
    let dlq = EventSource {
        sqs: aws.sqs.clone(),
        queue_url: config.dlq_url.clone(),
        wait: poll_wait,
        timeout: config.delivery_timeout,
    };
    info!(dlq = %config.dlq_url, "dead-letter consumer polling");
    dlq.run(|event, _| crate::deliver::dead_letter::handle_batch(&dead_letters, event), shutdown).await;
}

/// Runs the webhook function (the events queue's event source) until `shutdown` turns true; does
/// nothing when the configuration names no events queue.
pub async fn run_webhooks(config: &Config, aws: &AwsClients, poll_wait: Duration, shutdown: watch::Receiver<bool>) {
    let (Some(sender), Some(queue_url)) = (crate::wiring::webhook_sender(config, aws), &config.events_queue_url) else {
        return;
    };
    let events = EventSource {
        sqs: aws.sqs.clone(),
        queue_url: queue_url.clone(),
        wait: poll_wait,
        timeout: crate::webhooks::CALL_TIMEOUT * 2,
    };
    info!(queue = %queue_url, "webhook sender polling");
    events.run(|event, _| crate::webhooks::handle_batch(&sender, event), shutdown).await;
}

/// The status-stream consumer's tumbling window locally: counts follow within about a second
/// (the template's window is longer, which shares each counter write among more messages).
pub const LOCAL_STREAM_WINDOW: Duration = Duration::from_secs(1);

/// Runs the status-stream consumer (the table's stream, read like Lambda's event source mapping
/// with `LOCAL_STREAM_WINDOW`) until `shutdown` turns true; an invocation in progress finishes.
pub async fn run_status_stream(config: &Config, aws: &AwsClients, endpoint: &str, shutdown: watch::Receiver<bool>) {
    let status_stream = crate::wiring::status_stream(config, aws);
    let changes = stream::StreamSource::new(aws, endpoint, &config.table, LOCAL_STREAM_WINDOW);
    info!(table = %config.table, "status-stream consumer polling");
    changes.run(|event| crate::stream::handle_window(&status_stream, event), shutdown).await;
}

/// The configuration of one function's process on resources that already exist, as a Lambda
/// gets it: the resources from the environment (`OUTBOX_TABLE`, …), the local defaults for what
/// it leaves out. Nothing is created or seeded.
pub fn function_config(settings: &LocalSettings) -> Result<Config, crate::config::ConfigError> {
    Config::from_lookup(|name| {
        if name == "AWS_ENDPOINT_URL" {
            return Some(settings.endpoint.clone());
        }
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| LOCAL_DEFAULTS.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    })
}

/// The variables that name the resources, as `function_config` and `outbox-admin` read them.
pub fn resource_variables(config: &Config) -> Vec<(&'static str, &str)> {
    let mut variables = vec![
        ("OUTBOX_TABLE", config.table.as_str()),
        ("OUTBOX_QUEUE_URL", &config.queue_url),
        ("OUTBOX_DLQ_URL", &config.dlq_url),
        ("OUTBOX_MEDIA_BUCKET", &config.media_bucket),
    ];
    if let Some(url) = &config.events_queue_url {
        variables.push(("OUTBOX_EVENTS_QUEUE_URL", url));
    }
    if let Some(url) = &config.events_dlq_url {
        variables.push(("OUTBOX_EVENTS_DLQ_URL", url));
    }
    variables
}
