//! Building the AWS SDK clients, once per process, each with the timeouts every request gets.

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;

/// Opening a connection to an endpoint; in-region (or on loopback) this takes milliseconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The timeouts of one deployment's clients: S3's apart, because media bodies are larger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// One try of a request (the SDK retries a try that times out).
    pub attempt: Duration,
    /// A whole request, retries included.
    pub operation: Duration,
    pub s3_attempt: Duration,
    pub s3_operation: Duration,
}

impl Timeouts {
    /// AWS: a DynamoDB, SQS or Secrets Manager try takes milliseconds, so 5 s means trouble, and
    /// 12 s with retries stays well inside a Lambda's 30 s (the delivery consumer bounds its
    /// writes by the invocation's deadline on top). S3 gets 15 s and 25 s (inside the API's 29 s)
    /// for media of several MB.
    pub const DEPLOYED: Timeouts = Timeouts {
        attempt: Duration::from_secs(5),
        operation: Duration::from_secs(12),
        s3_attempt: Duration::from_secs(15),
        s3_operation: Duration::from_secs(25),
    };

    /// An emulator: moto is one Python process shared by every local function and test, and on
    /// 2 busy cores an index query over a 1,000-message broadcast took longer than 5 s; still
    /// bounded, so nothing hangs.
    pub const EMULATOR: Timeouts = Timeouts {
        attempt: Duration::from_secs(30),
        operation: Duration::from_secs(60),
        s3_attempt: Duration::from_secs(30),
        s3_operation: Duration::from_secs(60),
    };

    fn general(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }

    fn s3(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(self.s3_attempt)
            .operation_timeout(self.s3_operation)
            .build()
    }
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
        let timeouts = if endpoint_url.is_some() { Timeouts::EMULATOR } else { Timeouts::DEPLOYED };
        let sdk = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts.general()).load().await;
        Self::from_sdk_config(&sdk, endpoint_url.is_some(), timeouts)
    }

    /// An AWS emulator (moto, LocalStack) at `endpoint`, region us-east-1. Credentials come from
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) when set, so that each local
    /// process can run under its own identity as with IAM enforced (`make iam`); otherwise fixed
    /// test ones, which an emulator without IAM accepts.
    pub async fn emulator(endpoint: &str) -> AwsClients {
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(Timeouts::EMULATOR.general())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"));
        let set = |name: &str| std::env::var_os(name).is_some_and(|value| !value.is_empty());
        let loader = if set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY") {
            loader.credentials_provider(EnvironmentVariableCredentialsProvider::new())
        } else {
            loader.credentials_provider(Credentials::new("test", "test", None, None, "outbox-emulator"))
        };
        Self::from_sdk_config(&loader.load().await, true, Timeouts::EMULATOR)
    }

    fn from_sdk_config(sdk: &aws_config::SdkConfig, path_style: bool, timeouts: Timeouts) -> AwsClients {
        let s3_config =
            aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).timeout_config(timeouts.s3()).build();
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

    /// (connect, attempt, operation) of each client, in the order dynamodb, sqs, secretsmanager, s3.
    fn timeouts_of(clients: &AwsClients) -> Vec<(Option<Duration>, Option<Duration>, Option<Duration>)> {
        [
            clients.dynamodb.config().timeout_config().cloned(),
            clients.sqs.config().timeout_config().cloned(),
            clients.secrets.config().timeout_config().cloned(),
            clients.s3.config().timeout_config().cloned(),
        ]
        .into_iter()
        .map(|config| {
            let config = config.unwrap_or_else(TimeoutConfig::disabled);
            (config.connect_timeout(), config.operation_attempt_timeout(), config.operation_timeout())
        })
        .collect()
    }

    fn expected(t: Timeouts) -> Vec<(Option<Duration>, Option<Duration>, Option<Duration>)> {
        let general = (Some(CONNECT_TIMEOUT), Some(t.attempt), Some(t.operation));
        vec![general, general, general, (Some(CONNECT_TIMEOUT), Some(t.s3_attempt), Some(t.s3_operation))]
    }

    #[tokio::test]
    async fn every_client_has_connect_attempt_and_operation_timeouts() {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .timeout_config(Timeouts::DEPLOYED.general())
            .build();
        let deployed = AwsClients::from_sdk_config(&sdk, false, Timeouts::DEPLOYED);
        assert_eq!(timeouts_of(&deployed), expected(Timeouts::DEPLOYED));
        let emulator = AwsClients::emulator("http://127.0.0.1:9").await;
        assert_eq!(timeouts_of(&emulator), expected(Timeouts::EMULATOR));
        for t in [Timeouts::DEPLOYED, Timeouts::EMULATOR] {
            assert!(t.attempt < t.operation && t.s3_attempt < t.s3_operation, "{t:?}");
        }
        // A delivery's writes must fit in a 30 s Lambda with the provider's 20 s.
        assert!(Timeouts::DEPLOYED.operation < Duration::from_secs(30));
    }
}
