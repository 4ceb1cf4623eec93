//! Building the AWS SDK clients, once per process, each with the timeouts every request gets;
//! inside Lambda from its environment variables alone, and only the clients a function uses. They
//! share one HTTPS client that trusts the Mozilla roots compiled into the binary: the SDK's default
//! reads and parses the system's certificate store (146 files and a bundle on the bench machine,
//! ~8 ms) once per client, at construction, which was most of a cold start.

use std::sync::OnceLock;
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use base64::Engine as _;

use super::sdk_trace::SdkCalls;
pub use crate::lazy_client::LazyClient;

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

/// The HTTPS client a process's SDK clients share: rustls over aws-lc-rs, as the SDK's default,
/// trusting Mozilla's roots (`webpki-root-certs`, compiled in) instead of the system's store; it
/// is built by the first request (`OnFirstRequest`).
pub fn https_client() -> SharedHttpClient {
    SharedHttpClient::new(OnFirstRequest::default())
}

/// The hyper client with the compiled-in roots; it parses them once per connect and read timeout.
fn mozilla_roots_client() -> SharedHttpClient {
    let roots = TrustStore::empty().with_native_roots(false).with_pem_certificate(mozilla_roots_pem());
    let tls = TlsContext::builder().with_trust_store(roots).build().expect("a trust store of certificates only");
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(tls)
        .build_https()
}

/// An HTTP client built, with its trust store and connector, by the first request, and then shared
/// by every SDK client of the process. Each SDK client checks its HTTP client as it is constructed,
/// and the hyper client answers that by building a connector that it drops (so that the system's
/// roots load at start): with the roots compiled in, that was only cold-start work, once per client.
#[derive(Debug, Default)]
struct OnFirstRequest(OnceLock<SharedHttpClient>);

impl OnFirstRequest {
    fn client(&self) -> &SharedHttpClient {
        self.0.get_or_init(mozilla_roots_client)
    }
}

impl HttpClient for OnFirstRequest {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.client().http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.client().connector_metadata()
    }
}

/// The compiled-in roots as one PEM bundle, the form the SDK's trust store takes.
fn mozilla_roots_pem() -> Vec<u8> {
    let mut pem = String::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2_400);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let encoded = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

/// Where the wiring gets its clients: all built up front (`AwsClients`), or each built by the
/// first request that uses it (`AwsSdk`), so a Lambda builds only the ones it uses.
pub trait ClientSource {
    fn dynamodb(&self) -> LazyClient<aws_sdk_dynamodb::Client>;
    fn sqs(&self) -> LazyClient<aws_sdk_sqs::Client>;
    fn s3(&self) -> LazyClient<aws_sdk_s3::Client>;
    fn secrets(&self) -> LazyClient<aws_sdk_secretsmanager::Client>;
}

/// The four clients the local runner, the admin CLI, the tests and the bench share.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

/// The credentials of a process against an emulator (see `AwsClients::emulator`).
pub fn emulator_credentials() -> aws_sdk_dynamodb::config::SharedCredentialsProvider {
    let set = |name: &str| std::env::var_os(name).is_some_and(|value| !value.is_empty());
    if set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY") {
        aws_sdk_dynamodb::config::SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new())
    } else {
        aws_sdk_dynamodb::config::SharedCredentialsProvider::new(Credentials::new(
            "test",
            "test",
            None,
            None,
            "outbox-emulator",
        ))
    }
}

impl AwsClients {
    /// As `AwsSdk::from_environment`, every client built.
    pub async fn from_environment(endpoint_url: Option<&str>) -> AwsClients {
        AwsSdk::from_environment(endpoint_url).await.clients()
    }

    /// An AWS emulator (moto, LocalStack) at `endpoint`, region us-east-1. Credentials come from
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) when set, so that each local
    /// process can run under its own identity as with IAM enforced (`make iam`); otherwise fixed
    /// test ones, which an emulator without IAM accepts.
    pub async fn emulator(endpoint: &str) -> AwsClients {
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https_client())
            .timeout_config(Timeouts::EMULATOR.general())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"));
        let sdk = loader.credentials_provider(emulator_credentials()).load().await;
        AwsSdk::new(sdk, true, Timeouts::EMULATOR).clients()
    }
}

impl ClientSource for AwsClients {
    fn dynamodb(&self) -> LazyClient<aws_sdk_dynamodb::Client> {
        self.dynamodb.clone().into()
    }
    fn sqs(&self) -> LazyClient<aws_sdk_sqs::Client> {
        self.sqs.clone().into()
    }
    fn s3(&self) -> LazyClient<aws_sdk_s3::Client> {
        self.s3.clone().into()
    }
    fn secrets(&self) -> LazyClient<aws_sdk_secretsmanager::Client> {
        self.secrets.clone().into()
    }
}

/// One process's SDK configuration and its clients, each built by the first request that uses it
/// and then shared by every adapter of the process.
#[derive(Clone, Debug)]
pub struct AwsSdk {
    dynamodb: LazyClient<aws_sdk_dynamodb::Client>,
    sqs: LazyClient<aws_sdk_sqs::Client>,
    s3: LazyClient<aws_sdk_s3::Client>,
    secrets: LazyClient<aws_sdk_secretsmanager::Client>,
}

impl AwsSdk {
    /// Inside Lambda (a region and the role's credentials in the environment), the configuration
    /// is built from those variables alone: the default chain's profile files, SSO, web identity
    /// and instance-metadata providers find nothing there and cost the cold start milliseconds.
    /// Elsewhere, the standard chain (a user's profile). `endpoint_url` is `AWS_ENDPOINT_URL`.
    pub async fn from_environment(endpoint_url: Option<&str>) -> AwsSdk {
        let timeouts = if endpoint_url.is_some() { Timeouts::EMULATOR } else { Timeouts::DEPLOYED };
        let sdk = match from_variables(|name| std::env::var(name).ok(), endpoint_url, timeouts) {
            Some(sdk) => sdk,
            None => {
                let loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https_client());
                loader.timeout_config(timeouts.general()).load().await
            }
        };
        AwsSdk::new(sdk, endpoint_url.is_some(), timeouts)
    }

    /// Each client carries `SdkCalls`, which records its calls as X-Ray subsegments when traced.
    /// S3 on an emulator's endpoint needs path-style addressing.
    fn new(sdk: SdkConfig, path_style: bool, timeouts: Timeouts) -> AwsSdk {
        let config = sdk.clone();
        let dynamodb = LazyClient::new(move || {
            aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&config).interceptor(SdkCalls).build(),
            )
        });
        let config = sdk.clone();
        let sqs = LazyClient::new(move || {
            aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(&config).interceptor(SdkCalls).build())
        });
        let config = sdk.clone();
        let s3 = LazyClient::new(move || {
            let config = aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(path_style)
                .timeout_config(timeouts.s3())
                .interceptor(SdkCalls)
                .build();
            aws_sdk_s3::Client::from_conf(config)
        });
        let secrets = LazyClient::new(move || {
            let config = aws_sdk_secretsmanager::config::Builder::from(&sdk).interceptor(SdkCalls).build();
            aws_sdk_secretsmanager::Client::from_conf(config)
        });
        AwsSdk { dynamodb, sqs, s3, secrets }
    }

    /// Every client, built now.
    pub fn clients(&self) -> AwsClients {
        AwsClients {
            dynamodb: (*self.dynamodb).clone(),
            sqs: (*self.sqs).clone(),
            s3: (*self.s3).clone(),
            secrets: (*self.secrets).clone(),
        }
    }
}

impl ClientSource for AwsSdk {
    fn dynamodb(&self) -> LazyClient<aws_sdk_dynamodb::Client> {
        self.dynamodb.clone()
    }
    fn sqs(&self) -> LazyClient<aws_sdk_sqs::Client> {
        self.sqs.clone()
    }
    fn s3(&self) -> LazyClient<aws_sdk_s3::Client> {
        self.s3.clone()
    }
    fn secrets(&self) -> LazyClient<aws_sdk_secretsmanager::Client> {
        self.secrets.clone()
    }
}

/// The SDK configuration from the variables Lambda sets (`AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), or `None` when they are not all there.
fn from_variables(
    var: impl Fn(&str) -> Option<String>,
    endpoint_url: Option<&str>,
    timeouts: Timeouts,
) -> Option<SdkConfig> {
    let var = |name: &str| var(name).filter(|value| !value.is_empty());
    let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"))?;
    var("AWS_ACCESS_KEY_ID")?;
    var("AWS_SECRET_ACCESS_KEY")?;
    let builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        // Reads the variables at each refresh, as the default chain's first provider does.
        .credentials_provider(SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new()))
        .http_client(https_client())
        .retry_config(RetryConfig::standard())
        .timeout_config(timeouts.general());
    Some(match endpoint_url {
        Some(url) => builder.endpoint_url(url).build(),
        None => builder.build(),
    })
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

    #[test]
    fn the_trust_store_holds_every_mozilla_root_in_pem() {
        let pem = String::from_utf8(mozilla_roots_pem()).expect("PEM is ASCII");
        let blocks: Vec<&str> = pem.split_terminator("-----END CERTIFICATE-----\n").collect();
        assert_eq!(blocks.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(blocks.len() > 100, "Mozilla trusts well over 100 roots");
        for (block, der) in blocks.iter().zip(webpki_root_certs::TLS_SERVER_ROOT_CERTS) {
            let body = block.strip_prefix("-----BEGIN CERTIFICATE-----\n").expect("each block opens with BEGIN");
            assert!(body.lines().all(|line| line.len() <= 64), "RFC 7468 lines");
            let decoded = base64::engine::general_purpose::STANDARD.decode(body.replace('\n', "")).expect("base64");
            assert_eq!(decoded, der.as_ref());
        }
    }

    /// An HTTP client that counts the checks SDK clients make of it as they are constructed.
    #[derive(Debug, Default)]
    struct CountingChecks(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl HttpClient for CountingChecks {
        fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
            unreachable!("no request is made")
        }

        fn validate_base_client_config(
            &self,
            _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder,
            _: &aws_smithy_types::config_bag::ConfigBag,
        ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn constructing_the_clients_builds_no_connector() {
        let checks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let sdk_with = |client: SharedHttpClient| {
            let sdk = SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .http_client(client)
                .build();
            AwsSdk::new(sdk, false, Timeouts::DEPLOYED)
        };
        // The hyper client builds (and drops) a connector in this check: each SDK client makes it.
        sdk_with(SharedHttpClient::new(CountingChecks(checks.clone()))).clients();
        assert_eq!(checks.load(std::sync::atomic::Ordering::SeqCst), 4);
        let deferred = OnFirstRequest::default();
        let counting = SharedHttpClient::new(CountingChecks(checks.clone()));
        assert!(deferred.0.set(counting).is_ok(), "nothing built it yet");
        sdk_with(SharedHttpClient::new(deferred)).clients();
        assert_eq!(checks.load(std::sync::atomic::Ordering::SeqCst), 4, "the shared client is not checked at start");
    }

    #[test]
    fn a_client_is_built_by_its_first_use_once_and_shared_by_every_adapter() {
        let checks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .http_client(SharedHttpClient::new(CountingChecks(checks.clone())))
            .build();
        let aws = AwsSdk::new(sdk, false, Timeouts::DEPLOYED);
        let (store, other_store, queue) = (aws.dynamodb(), aws.dynamodb(), aws.sqs());
        assert_eq!(checks.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing is built at start");
        assert!(!store.is_built() && !queue.is_built());
        assert_eq!(store.config().region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(checks.load(std::sync::atomic::Ordering::SeqCst), 1, "one client built by its first use");
        assert!(other_store.is_built(), "the same client, shared");
        assert!(!queue.is_built() && !aws.s3().is_built() && !aws.secrets().is_built(), "the unused ones are not");
        let _ = other_store.config();
        assert_eq!(checks.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(LazyClient::from(42).is_built(), "a client given built is built");
    }

    #[tokio::test]
    async fn every_client_has_connect_attempt_and_operation_timeouts() {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .timeout_config(Timeouts::DEPLOYED.general())
            .build();
        let deployed = AwsSdk::new(sdk, false, Timeouts::DEPLOYED).clients();
        assert_eq!(timeouts_of(&deployed), expected(Timeouts::DEPLOYED));
        let emulator = AwsClients::emulator("http://127.0.0.1:9").await;
        assert_eq!(timeouts_of(&emulator), expected(Timeouts::EMULATOR));
        for t in [Timeouts::DEPLOYED, Timeouts::EMULATOR] {
            assert!(t.attempt < t.operation && t.s3_attempt < t.s3_operation, "{t:?}");
        }
        // A delivery's writes must fit in a 30 s Lambda with the provider's 20 s.
        assert!(Timeouts::DEPLOYED.operation < Duration::from_secs(30));
    }

    #[tokio::test]
    async fn lambda_variables_give_region_credentials_and_timeouts_without_the_default_chain() {
        let lambda = |name: &str| {
            let value = match name {
                "AWS_REGION" => "eu-west-1",
                "AWS_ACCESS_KEY_ID" => "AKIDEXAMPLE",
                "AWS_SECRET_ACCESS_KEY" => "secret",
                _ => return None,
            };
            Some(value.to_string())
        };
        let sdk = from_variables(lambda, None, Timeouts::DEPLOYED).expect("all variables set");
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(sdk.credentials_provider().is_some() && sdk.endpoint_url().is_none());
        assert!(sdk.http_client().is_some(), "the shared client with the compiled-in roots, not the SDK's default");
        assert_eq!(sdk.retry_config().map(|r| r.max_attempts()), Some(RetryConfig::standard().max_attempts()));
        let clients = AwsSdk::new(sdk, false, Timeouts::DEPLOYED).clients();
        assert_eq!(timeouts_of(&clients), expected(Timeouts::DEPLOYED));
        let local = from_variables(lambda, Some("http://127.0.0.1:9"), Timeouts::EMULATOR).expect("set");
        assert_eq!(local.endpoint_url(), Some("http://127.0.0.1:9"));
        // Without a region or credentials there, the standard chain decides.
        let no_region = |name: &str| if name == "AWS_REGION" { None } else { lambda(name) };
        assert!(from_variables(no_region, None, Timeouts::DEPLOYED).is_none());
        let no_secret = |name: &str| if name == "AWS_SECRET_ACCESS_KEY" { Some(String::new()) } else { lambda(name) };
        assert!(from_variables(no_secret, None, Timeouts::DEPLOYED).is_none());
        // A request gets as far as connecting: the clients' defaults supply the sleep and time
        // source the timeouts and retries need, which the config does not set.
        let closed = AwsSdk::new(local, true, Timeouts::EMULATOR);
        let err = closed.dynamodb().list_tables().send().await.expect_err("nothing listens on port 9");
        assert!(
            matches!(err, aws_sdk_dynamodb::error::SdkError::DispatchFailure(_)),
            "{}",
            crate::telemetry::chain(&err)
        );
    }
}
