//! Building the AWS SDK clients, once per process.

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;

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
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self::from_sdk_config(&sdk, endpoint_url.is_some())
    }

    /// An AWS emulator (moto, LocalStack) at `endpoint`, region us-east-1. Credentials come from
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) when set, so that each local
    /// process can run under its own identity as with IAM enforced (`make iam`); otherwise fixed
    /// test ones, which an emulator without IAM accepts.
    pub async fn emulator(endpoint: &str) -> AwsClients {
        let loader =
            aws_config::defaults(BehaviorVersion::latest()).endpoint_url(endpoint).region(Region::new("us-east-1"));
        let set = |name: &str| std::env::var_os(name).is_some_and(|value| !value.is_empty());
        let loader = if set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY") {
            loader.credentials_provider(EnvironmentVariableCredentialsProvider::new())
        } else {
            loader.credentials_provider(Credentials::new("test", "test", None, None, "outbox-emulator"))
        };
        Self::from_sdk_config(&loader.load().await, true)
    }

    fn from_sdk_config(sdk: &aws_config::SdkConfig, path_style: bool) -> AwsClients {
        let s3_config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).build();
        AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }
}
