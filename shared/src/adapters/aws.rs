//! Building the AWS SDK clients, once per process, each with the timeouts every request gets.

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;

/// Opening a connection to an AWS endpoint; in-region this takes milliseconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// One try of a DynamoDB, SQS or Secrets Manager request; longer than the local event source's
/// long poll (at most a few seconds), far shorter than a Lambda's 30 s.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// A whole request with the SDK's retries; the delivery consumer bounds its writes by the
/// invocation's deadline on top of this.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(12);
/// One try of an S3 request: a staged media object may be several MB.
const S3_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// A whole S3 request, inside the API's 29 s.
const S3_OPERATION_TIMEOUT: Duration = Duration::from_secs(25);

/// The timeouts of every client but S3's.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// S3's timeouts: the same connect timeout, longer tries for media bodies.
pub fn s3_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(S3_ATTEMPT_TIMEOUT)
        .operation_timeout(S3_OPERATION_TIMEOUT)
        .build()
}

/// The three clients every Outbox process uses.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl AwsClients {
    /// The standard credential and region chain (Lambda's role, or a user's profile).
    /// `AWS_ENDPOINT_URL` is honoured by the SDK itself; S3 then needs path-style addressing.
    pub async fn from_environment(endpoint_url: Option<&str>) -> AwsClients {
        let sdk = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts()).load().await;
        Self::from_sdk_config(&sdk, endpoint_url.is_some())
    }

    /// An AWS emulator (moto, LocalStack) at `endpoint`, region us-east-1. Credentials come from
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) when set, so that each local
    /// process can run under its own identity as with IAM enforced (`make iam`); otherwise fixed
    /// test ones, which an emulator without IAM accepts.
    pub async fn emulator(endpoint: &str) -> AwsClients {
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"));
        let set = |name: &str| std::env::var_os(name).is_some_and(|value| !value.is_empty());
        let loader = if set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY") {
            loader.credentials_provider(EnvironmentVariableCredentialsProvider::new())
        } else {
            loader.credentials_provider(Credentials::new("test", "test", None, None, "outbox-emulator"))
        };
        Self::from_sdk_config(&loader.load().await, true)
    }

    fn from_sdk_config(sdk: &aws_config::SdkConfig, path_style: bool) -> AwsClients {
        let s3_config =
            aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).timeout_config(s3_timeouts()).build();
        AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_client_has_connect_attempt_and_operation_timeouts() {
        let clients = AwsClients::emulator("http://127.0.0.1:9").await;
        let configs = [
            clients.dynamodb.config().timeout_config().cloned(),
            clients.sqs.config().timeout_config().cloned(),
            clients.secrets.config().timeout_config().cloned(),
            clients.s3.config().timeout_config().cloned(),
        ];
        for (name, config) in ["dynamodb", "sqs", "secretsmanager", "s3"].iter().zip(configs) {
            let config = config.unwrap_or_else(|| panic!("{name} has no timeout config"));
            assert_eq!(config.connect_timeout(), Some(CONNECT_TIMEOUT), "{name}");
            let (attempt, operation) = (config.operation_attempt_timeout(), config.operation_timeout());
            assert!(attempt.is_some_and(|a| operation.is_some_and(|o| a < o)), "{name}: {config:?}");
        }
        let s3 = clients.s3.config().timeout_config().and_then(|c| c.operation_timeout());
        assert_eq!(s3, Some(S3_OPERATION_TIMEOUT));
    }
}
