//! Creates the table, queues and bucket on an emulator, idempotently: the local twin of template.yaml.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::adapters::aws::AwsClients;
use crate::adapters::dynamodb::indexes::{self, EXPIRES_AT, Index, PK, SK};

/// What to create; names are derived from `prefix`.
#[derive(Debug, Clone)]
pub struct ProvisionSpec {
    pub prefix: String,
    /// The jobs queue's visibility timeout; template.yaml uses 6× the delivery timeout.
    pub visibility_timeout_secs: u32,
}

impl ProvisionSpec {
    pub fn table(&self) -> String {
        format!("{}-table", self.prefix)
    }

    pub fn bucket(&self) -> String {
        format!("{}-media", self.prefix)
    }

    pub fn queue(&self) -> String {
        format!("{}-jobs", self.prefix)
    }

    pub fn dlq(&self) -> String {
        format!("{}-dlq", self.prefix)
    }

    pub fn events_queue(&self) -> String {
        format!("{}-events", self.prefix)
    }

    pub fn events_dlq(&self) -> String {
        format!("{}-events-dlq", self.prefix)
    }
}

/// The events queue's visibility timeout: above a batch's calls (`webhooks::CALL_TIMEOUT` each, concurrently).
const EVENTS_VISIBILITY_TIMEOUT_SECS: u32 = 30;

/// The names and URLs of what was created.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub table: String,
    pub queue_url: String,
    pub dlq_url: String,
    pub events_queue_url: String,
    pub events_dlq_url: String,
    pub bucket: String,
}

#[derive(Debug, thiserror::Error)]
#[error("could not create {resource}")]
pub struct ProvisionError {
    resource: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

fn failed(resource: &str, err: impl std::error::Error + Send + Sync + 'static) -> ProvisionError {
    ProvisionError { resource: resource.to_string(), source: Box::new(err) }
}

/// Creates what `spec` names; the jobs queue redrives to the DLQ after `max_receive_count`
/// receives, `deliver::max_receives` of `Config::max_attempts`.
pub async fn provision(
    aws: &AwsClients,
    spec: &ProvisionSpec,
    max_receive_count: u32,
) -> Result<Provisioned, ProvisionError> {
    let (table, bucket) = (spec.table(), spec.bucket());
    create_table(aws, &table).await?;
    let (queue_url, dlq_url) =
        create_queues(aws, &spec.queue(), &spec.dlq(), spec.visibility_timeout_secs, max_receive_count).await?;
    let (events_queue_url, events_dlq_url) = create_queues(
        aws,
        &spec.events_queue(),
        &spec.events_dlq(),
        EVENTS_VISIBILITY_TIMEOUT_SECS,
        crate::webhooks::MAX_RECEIVES,
    )
    .await?;
    create_bucket(aws, &bucket).await?;
    Ok(Provisioned { table, queue_url, dlq_url, events_queue_url, events_dlq_url, bucket })
}

fn string_key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, ProvisionError> {
    KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().map_err(|e| failed(name, e))
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, ProvisionError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| failed(name, e))
}

fn index(index: Index) -> Result<GlobalSecondaryIndex, ProvisionError> {
    let projection = if index.keys_only { ProjectionType::KeysOnly } else { ProjectionType::All };
    GlobalSecondaryIndex::builder()
        .index_name(index.name)
        .key_schema(string_key(index.pk, KeyType::Hash)?)
        .key_schema(string_key(index.sk, KeyType::Range)?)
        .projection(Projection::builder().projection_type(projection).build())
        .build()
        .map_err(|e| failed(index.name, e))
}

/// The status-stream consumer reads both images of every change (template.yaml's StreamSpecification).
fn stream_specification() -> Result<StreamSpecification, ProvisionError> {
    StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()
        .map_err(|e| failed("the table's stream", e))
}

/// A table made before it had a stream (an emulator that outlived an older version) gets one.
async fn enable_stream(aws: &AwsClients, table: &str) -> Result<(), ProvisionError> {
    let described = aws.dynamodb.describe_table().table_name(table).send().await.map_err(|e| failed(table, e))?;
    if described.table.and_then(|t| t.latest_stream_arn).is_some() {
        return Ok(());
    }
    aws.dynamodb
        .update_table()
        .table_name(table)
        .stream_specification(stream_specification()?)
        .send()
        .await
        .map_err(|e| failed(table, e))?;
    Ok(())
}

async fn create_table(aws: &AwsClients, table: &str) -> Result<(), ProvisionError> {
    let mut request = aws
        .dynamodb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(stream_specification()?)
        .key_schema(string_key(PK, KeyType::Hash)?)
        .key_schema(string_key(SK, KeyType::Range)?);
    for gsi in indexes::ALL {
        request = request.global_secondary_indexes(index(gsi)?);
    }
    request = request.attribute_definitions(string_attribute(PK)?).attribute_definitions(string_attribute(SK)?);
    for gsi in indexes::ALL {
        request =
            request.attribute_definitions(string_attribute(gsi.pk)?).attribute_definitions(string_attribute(gsi.sk)?);
    }
    match request.send().await {
        Ok(_) => {}
        Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {
            return enable_stream(aws, table).await;
        }
        Err(err) => return Err(failed(table, err)),
    }
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(EXPIRES_AT)
        .enabled(true)
        .build()
        .map_err(|e| failed(table, e))?;
    aws.dynamodb
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| failed(table, e))?;
    Ok(())
}

/// A queue and its dead-letter queue, which takes what was received `max_receive_count` times.
async fn create_queues(
    aws: &AwsClients,
    queue_name: &str,
    dlq_name: &str,
    visibility_timeout_secs: u32,
    max_receive_count: u32,
) -> Result<(String, String), ProvisionError> {
    let dlq = aws
        .sqs
        .create_queue()
        .queue_name(dlq_name)
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(|e| failed(dlq_name, e))?;
    let dlq_url = dlq.queue_url.unwrap_or_default();
    let attributes = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| failed(dlq_name, e))?;
    let dlq_arn = attributes.attributes.and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned()).unwrap_or_default();
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}).to_string();
    let queue = aws
        .sqs
        .create_queue()
        .queue_name(queue_name)
        .attributes(QueueAttributeName::VisibilityTimeout, visibility_timeout_secs.to_string())
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .map_err(|e| failed(queue_name, e))?;
    Ok((queue.queue_url.unwrap_or_default(), dlq_url))
}

async fn create_bucket(aws: &AwsClients, bucket: &str) -> Result<(), ProvisionError> {
    match aws.s3.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()) =>
        {
            Ok(())
        }
        Err(err) => Err(failed(bucket, err)),
    }
}
