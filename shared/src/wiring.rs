//! Wiring: builds each entrypoint's dependencies from the configuration and the AWS clients,
//! the same way for the Lambda binaries, the local runner and the integration tests.

use std::sync::Arc;
use std::time::Duration;

use crate::Config;
use crate::adapters::aws::AwsClients;
use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::s3::S3MediaStore;
use crate::adapters::secrets_manager::SecretsManager;
use crate::adapters::sqs::SqsQueue;
use crate::api::{ApiPorts, ApiSettings, AppState};
use crate::dead_letter::DeadLetters;
use crate::delivery::Delivery;
use crate::delivery::retry::RetryPolicy;
use crate::enqueue::{Enqueuer, QueueDepth};
use crate::providers::sandbox::FaultySandbox;
use crate::providers::{Accounts, Providers};

/// `queue_position` may be this stale.
const QUEUE_DEPTH_MAX_AGE: Duration = Duration::from_secs(1);

pub fn app_state(config: &Config, aws: &AwsClients) -> AppState {
    let store = Arc::new(DynamoStore::new(aws.dynamodb.clone(), &config.table));
    let enqueuer = Enqueuer {
        store: store.clone(),
        queue: Arc::new(SqsQueue::new(aws.sqs.clone(), &config.queue_url, &config.dlq_url)),
        media: Arc::new(S3MediaStore::new(aws.s3.clone(), &config.media_bucket)),
        retention: config.retention,
        depth: Arc::new(QueueDepth::new(QUEUE_DEPTH_MAX_AGE)),
    };
    let ports = ApiPorts {
        store: store.clone(),
        tenants: store.clone(),
        idempotency: store.clone(),
        rate_counter: store.clone(),
        tracking: store,
    };
    let settings = ApiSettings {
        max_body_bytes: config.max_body_bytes,
        auth_cache_ttl: config.auth_cache_ttl,
        rate_limit_per_minute: config.rate_limit_per_minute,
    };
    AppState::new(ports, enqueuer, settings)
}

/// The delivery consumer. `providers` brings the sandbox (tests pass a counting one); phones on
/// real providers are resolved from this deployment's table, Secrets Manager and media bucket.
pub fn delivery(config: &Config, aws: &AwsClients, providers: Providers) -> Delivery {
    let store = Arc::new(DynamoStore::new(aws.dynamodb.clone(), &config.table));
    let accounts = Accounts::new(
        store.clone(),
        Arc::new(SecretsManager::new(aws.secrets.clone())),
        Arc::new(S3MediaStore::new(aws.s3.clone(), &config.media_bucket)),
        config.auth_cache_ttl,
    );
    Delivery {
        store,
        queue: Arc::new(SqsQueue::new(aws.sqs.clone(), &config.queue_url, &config.dlq_url)),
        providers: providers.with_accounts(accounts),
        retry: RetryPolicy { base: config.retry_base },
        max_attempts: config.max_attempts,
        lease: config.delivery_timeout,
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

pub fn dead_letters(config: &Config, aws: &AwsClients) -> DeadLetters {
    DeadLetters { store: Arc::new(DynamoStore::new(aws.dynamodb.clone(), &config.table)), retention: config.retention }
}
