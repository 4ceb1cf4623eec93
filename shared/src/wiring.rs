//! Wiring, the composition root: builds each entrypoint's dependencies from the configuration
//! and the AWS clients (the Lambda binaries, the local runner, the integration tests), or from
//! in-memory twins (the handler tests and the send benchmark).

use std::sync::Arc;
use std::time::Duration;

use crate::Config;
use crate::adapters::aws::ClientSource;
use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::memory::{
    ManualClock, MemoryIdempotency, MemoryMedia, MemoryQueue, MemoryRateCounter, MemorySecrets, MemoryStore,
};
use crate::adapters::s3::S3MediaStore;
use crate::adapters::secrets_manager::SecretsManager;
use crate::adapters::sqs::{SqsEvents, SqsQueue};
use crate::api::{ApiPorts, ApiSettings, AppState};
use crate::deliver::Delivery;
use crate::deliver::dead_letter::DeadLetters;
use crate::deliver::retry::RetryPolicy;
use crate::lazy_client::LazyClient;
use crate::metrics::Metrics;
use crate::net::egress::Egress;
use crate::ports::{Clock, StatusStore, SystemClock, Tracking};
use crate::providers::sandbox::FaultySandbox;
use crate::providers::{Credentials, Providers};
use crate::receipts::Receipts;
use crate::send::{Enqueuer, QueueDepth, Uploads};
use crate::stream::StatusStream;
use crate::stream::events::EventPublisher;
use crate::webhooks::WebhookSender;

/// `queue_position` may be this stale.
const QUEUE_DEPTH_MAX_AGE: Duration = Duration::from_secs(1);

/// The first pause before retrying a failed outcome write (DynamoDB throttling clears in ~100 ms).
const OUTCOME_WRITE_BACKOFF: Duration = Duration::from_millis(100);

/// The clock every deployed process runs on.
fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// The message store's ports as one process uses them: the DynamoDB table's, or (the local
/// soak) the table's behind a fault injector (`local::store_faults`).
#[derive(Clone)]
pub struct MessageStore {
    pub status: Arc<dyn StatusStore>,
    pub tracking: Arc<dyn Tracking>,
}

impl MessageStore {
    /// The table itself as the message store.
    pub fn table(store: Arc<DynamoStore>) -> MessageStore {
        MessageStore { status: store.clone(), tracking: store }
    }
}

/// The deployment's table as the message store.
pub fn message_store(config: &Config, aws: &impl ClientSource) -> MessageStore {
    MessageStore::table(Arc::new(DynamoStore::new(aws.dynamodb(), &config.table)))
}

/// The API's state; it uses DynamoDB, SQS and S3.
pub fn app_state(config: &Config, aws: &impl ClientSource) -> AppState {
    let store = Arc::new(DynamoStore::new(aws.dynamodb(), &config.table));
    app_state_on(config, aws, store.clone(), MessageStore::table(store))
}

/// The API with `messages` as its message store and `store` (the table) for everything else.
pub fn app_state_on(
    config: &Config,
    aws: &impl ClientSource,
    store: Arc<DynamoStore>,
    messages: MessageStore,
) -> AppState {
    let media = Arc::new(S3MediaStore::new(aws.s3(), &config.media_bucket));
    let clock = system_clock();
    let enqueuer = Enqueuer {
        store: messages.status.clone(),
        queue: Arc::new(SqsQueue::new(aws.sqs(), &config.queue_url, &config.dlq_url).with_max_delay(config.max_delay)),
        media: media.clone(),
        clock: clock.clone(),
        retention: config.retention,
        depth: Arc::new(QueueDepth::new(QUEUE_DEPTH_MAX_AGE)),
        uploads: Uploads { store: store.clone(), media, clock },
        metrics: Metrics::stdout(&config.metrics_namespace),
    };
    let ports = ApiPorts {
        store: messages.status,
        tenants: store.clone(),
        idempotency: store.clone(),
        rate_counter: store.clone(),
        tracking: messages.tracking,
        counters: store.clone(),
        receipts: store.clone(),
        secrets: Arc::new(SecretsManager::new(aws.secrets())),
        webhooks: store,
        egress: Egress::new(config.allow_private_targets),
    };
    AppState::new(ports, enqueuer, api_settings(config))
}

fn api_settings(config: &Config) -> ApiSettings {
    ApiSettings {
        max_body_bytes: config.max_body_bytes,
        auth_cache_ttl: config.auth_cache_ttl,
        rate_limit_per_minute: config.rate_limit_per_minute,
        api_timeout: config.api_timeout,
    }
}

/// The delivery consumer. `providers` brings the sandbox (tests pass a counting one); phones on
/// real providers are resolved from this deployment's table, Secrets Manager and media bucket.
pub fn delivery(config: &Config, aws: &impl ClientSource, providers: Providers) -> Delivery {
    let store = Arc::new(DynamoStore::new(aws.dynamodb(), &config.table));
    let clock = system_clock();
    let credentials = Credentials::new(
        store.clone(),
        Arc::new(SecretsManager::new(aws.secrets())),
        Arc::new(S3MediaStore::new(aws.s3(), &config.media_bucket)),
        clock.clone(),
        Egress::new(config.allow_private_targets),
        config.auth_cache_ttl,
    );
    Delivery {
        store,
        queue: Arc::new(SqsQueue::new(aws.sqs(), &config.queue_url, &config.dlq_url).with_max_delay(config.max_delay)),
        providers: providers.with_credentials(credentials),
        clock,
        retry: RetryPolicy { base: config.retry_base },
        max_attempts: config.max_attempts,
        lease: config.delivery_timeout,
        write_backoff: OUTCOME_WRITE_BACKOFF,
        metrics: Metrics::stdout(&config.metrics_namespace),
    }
}

/// The sandbox as configured: the plain one, or with `OUTBOX_SANDBOX_FAULTS`' fault injection.
/// Fails only when the fault spec's call log cannot be opened.
pub fn sandbox_providers(config: &Config) -> std::io::Result<Providers> {
    match &config.sandbox_faults {
        None => Ok(Providers::standard()),
        Some(faults) => Ok(Providers::new(Arc::new(FaultySandbox::new(faults.clone())?))),
    }
}

/// The status-stream consumer: the counters (and the sandbox's receipts) on this deployment's
/// table; it uses DynamoDB only.
pub fn status_stream(config: &Config, aws: &impl ClientSource) -> StatusStream {
    let store = Arc::new(DynamoStore::new(aws.dynamodb(), &config.table));
    let clock = system_clock();
    let sandbox_receipts = config.sandbox_receipts.then(|| Receipts {
        store: store.clone(),
        receipts: store.clone(),
        clock: clock.clone(),
        metrics: Metrics::stdout(&config.metrics_namespace),
    });
    let events = config.events_queue_url.as_ref().map(|queue_url| EventPublisher {
        webhooks: store.clone(),
        tenants: store.clone(),
        queue: Arc::new(SqsEvents::new(aws.sqs(), queue_url)),
    });
    StatusStream { counters: store, clock, sandbox_receipts, events }
}

/// The webhook function: deliveries off the events queue, posted to the orgs' webhooks; it uses
/// DynamoDB (the webhooks), Secrets Manager (their secrets) and SQS (the backoff). `None` without
/// an events queue.
pub fn webhook_sender(config: &Config, aws: &impl ClientSource) -> Option<WebhookSender> {
    let queue_url = config.events_queue_url.as_ref()?;
    let egress = Egress::new(config.allow_private_targets);
    let resolver = egress.clone();
    Some(WebhookSender {
        webhooks: Arc::new(DynamoStore::new(aws.dynamodb(), &config.table)),
        secrets: Arc::new(SecretsManager::new(aws.secrets())),
        queue: Arc::new(SqsEvents::new(aws.sqs(), queue_url)),
        http: LazyClient::new(move || crate::webhooks::http_client(&resolver)),
        egress,
        clock: system_clock(),
        retry: RetryPolicy { base: config.webhook_retry_base },
        metrics: Metrics::stdout(&config.metrics_namespace),
    })
}

/// The dead-letter consumer; it uses DynamoDB only.
pub fn dead_letters(config: &Config, aws: &impl ClientSource) -> DeadLetters {
    DeadLetters {
        store: Arc::new(DynamoStore::new(aws.dynamodb(), &config.table)),
        clock: system_clock(),
        retention: config.retention,
        metrics: Metrics::stdout(&config.metrics_namespace),
    }
}

/// The API over in-memory ports and a clock that only moves when told, with the stores exposed
/// so a test can seed and inspect them.
pub struct InMemoryApi {
    pub state: AppState,
    pub store: Arc<MemoryStore>,
    pub queue: Arc<MemoryQueue>,
    pub media: Arc<MemoryMedia>,
    pub idempotency: Arc<MemoryIdempotency>,
    pub secrets: Arc<MemorySecrets>,
    pub clock: Arc<ManualClock>,
}

/// The send path over in-memory ports, for handler tests and benchmarks: records kept for an hour,
/// metric lines captured rather than printed.
pub fn in_memory_enqueuer(
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    media: Arc<MemoryMedia>,
    clock: Arc<dyn Clock>,
) -> Enqueuer {
    Enqueuer {
        store: store.clone(),
        queue,
        media: media.clone(),
        clock: clock.clone(),
        retention: Duration::from_secs(3600),
        depth: Arc::new(QueueDepth::new(QUEUE_DEPTH_MAX_AGE)),
        uploads: Uploads { store, media, clock },
        metrics: Metrics::capture(crate::config::DEFAULT_METRICS_NAMESPACE),
    }
}

/// The handler tests' and the send benchmark's API: everything of `app_state` but AWS.
pub fn in_memory_api(settings: ApiSettings) -> InMemoryApi {
    let store = Arc::new(MemoryStore::default());
    let queue = Arc::new(MemoryQueue::default());
    let media = Arc::new(MemoryMedia::default());
    let clock = Arc::new(ManualClock::starting_now());
    let enqueuer = in_memory_enqueuer(store.clone(), queue.clone(), media.clone(), clock.clone());
    let idempotency = Arc::new(MemoryIdempotency::default());
    let secrets = Arc::new(MemorySecrets::default());
    let ports = ApiPorts {
        store: store.clone(),
        tenants: store.clone(),
        idempotency: idempotency.clone(),
        rate_counter: Arc::new(MemoryRateCounter::default()),
        tracking: store.clone(),
        counters: store.clone(),
        receipts: store.clone(),
        secrets: secrets.clone(),
        webhooks: store.clone(),
        // Public https targets only, as in AWS; a test that creates webhooks gives it a fixed resolver.
        egress: Egress::new(false),
    };
    let state = AppState::new(ports, enqueuer, settings);
    InMemoryApi { state, store, queue, media, idempotency, secrets, clock }
}
