//! How the CLI finds the stack: a deployment named by the Lambdas' variables, or the local one.

use outbox::Config;
use outbox::adapters::aws::AwsClients;
use outbox::adapters::dynamodb::DynamoStore;
use outbox::adapters::secrets_manager::SecretsManager;
use outbox::adapters::sqs::{SqsDeadEvents, SqsEvents, SqsQueue};
use outbox::local::{self, LocalSettings};
use outbox::net::egress::Egress;

use crate::errors::Failure;

/// The adapters the commands work through.
pub struct Services {
    pub store: DynamoStore,
    pub secrets: SecretsManager,
    pub queue: SqsQueue,
    /// The webhook events queue and its dead-letter queue, when the stack names them.
    pub events: Option<SqsEvents>,
    pub dead_events: Option<SqsDeadEvents>,
    /// Where provider URLs may point: the deployment's rules (the local stack allows private targets).
    pub egress: Egress,
    /// How long records are kept past their due time (`OUTBOX_RETENTION_DAYS`): a replay renews it.
    pub retention: std::time::Duration,
}

/// A deployment when OUTBOX_TABLE is set, otherwise the local stack (whose resources are ensured, idempotently).
pub async fn connect() -> Result<Services, Failure> {
    let (config, aws) = if std::env::var_os("OUTBOX_TABLE").is_some() {
        let config = Config::from_env().map_err(|err| {
            Failure::Stack(format!(
                "{err}: with OUTBOX_TABLE set, outbox-admin reads the same variables as the Lambdas"
            ))
        })?;
        let aws = AwsClients::from_environment(config.endpoint_url.as_deref()).await;
        (config, aws)
    } else {
        let settings = LocalSettings::from_env();
        local::prepare(&settings).await.map_err(|err| {
            Failure::Stack(format!(
                "cannot use the local stack at {}: {}\nstart it with `make run` (or set AWS_ENDPOINT_URL), \
                 or set OUTBOX_TABLE and the Lambdas' other variables to use a deployment",
                settings.endpoint,
                outbox::telemetry::chain(&err)
            ))
        })?
    };
    Ok(Services {
        store: DynamoStore::new(aws.dynamodb.clone(), &config.table),
        secrets: SecretsManager::new(aws.secrets.clone()),
        queue: SqsQueue::new(aws.sqs.clone(), &config.queue_url, &config.dlq_url).with_max_delay(config.max_delay),
        events: config.events_queue_url.as_ref().map(|url| SqsEvents::new(aws.sqs.clone(), url)),
        dead_events: config.events_dlq_url.as_ref().map(|url| SqsDeadEvents::new(aws.sqs.clone(), url)),
        egress: Egress::new(config.allow_private_targets),
        retention: config.retention,
    })
}
