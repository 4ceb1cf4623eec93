//! The integration-test harness: one moto server per test process, and for each test a fresh
//! stack (randomly named table, queues and bucket) served on a random port, through the same
//! `outbox::local` code that `make run` uses.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use outbox::Config;
use outbox::adapters::aws::AwsClients;
use outbox::adapters::dynamodb::DynamoStore;
use outbox::domain::ids::{OrgId, PhoneId};
use outbox::domain::tenant::{NewApiKey, Phone, ProviderSettings};
use outbox::local::event_source::EventSource;
use outbox::local::{self, LOCAL_API_KEY, LocalSettings};
use outbox::ports::{Clock, SystemClock, TenantStore};
use outbox::providers::Providers;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use outbox;

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

/// The project's virtualenv Python (`make test` creates it), or `$OUTBOX_TEST_PYTHON`.
fn python() -> PathBuf {
    std::env::var_os("OUTBOX_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"))
}

struct Moto {
    endpoint: String,
    /// Holding the pipe keeps moto alive; it exits when this process does.
    _child: Child,
}

/// The moto server shared by this test process, started on first use.
pub fn moto_endpoint() -> &'static str {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    &MOTO
        .get_or_init(|| {
            let script = workspace_root().join("scripts/moto_server.py");
            let mut child = Command::new(python())
                .arg(&script)
                .arg("--until-stdin-closes")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap_or_else(|e| panic!("could not start moto with {:?} (run `make venv` first): {e}", python()));
            let mut line = String::new();
            let stdout = child.stdout.take().expect("piped stdout");
            BufReader::new(stdout).read_line(&mut line).expect("moto prints its port");
            let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("moto did not print a port: {line:?}"));
            Moto { endpoint: format!("http://127.0.0.1:{port}"), _child: child }
        })
        .endpoint
}

/// Which consumers a stack runs in the background.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Consumers {
    None,
    DeliveryOnly,
    /// Delivery, dead letters, the status stream and the webhook sender: every consumer of a deployment.
    Both,
    /// The status stream alone (its counters), for tests that drive delivery themselves.
    StreamOnly,
}

impl Consumers {
    fn delivery(self) -> bool {
        matches!(self, Consumers::DeliveryOnly | Consumers::Both)
    }

    fn stream(self) -> bool {
        matches!(self, Consumers::Both | Consumers::StreamOnly)
    }
}

pub struct StackOptions {
    pub consumers: Consumers,
    pub providers: Providers,
    pub overrides: Vec<(&'static str, String)>,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions { consumers: Consumers::Both, providers: Providers::standard(), overrides: vec![] }
    }
}

/// A running stack for one test; stopped when dropped.
pub struct Stack {
    pub config: Config,
    /// The resource names' prefix, as `OUTBOX_LOCAL_PREFIX` gives it to the binaries.
    pub prefix: String,
    pub aws: AwsClients,
    pub base_url: String,
    pub http: reqwest::Client,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Long-poll wait of the test consumers: short, so tests see retries quickly.
const POLL_WAIT: Duration = Duration::from_secs(1);

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(StackOptions::default()).await
    }

    pub async fn start_with(options: StackOptions) -> Stack {
        let mut overrides = vec![("OUTBOX_AUTH_CACHE_SECS".to_string(), "0".to_string())];
        overrides.extend(options.overrides.into_iter().map(|(k, v)| (k.to_string(), v)));
        let settings = LocalSettings {
            endpoint: moto_endpoint().to_string(),
            prefix: format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            overrides,
        };
        let (config, aws) = local::prepare(&settings).await.expect("resources on moto");
        local::seed(&config, &aws).await.expect("seed");
        let (stop, shutdown) = watch::channel(false);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let base_url = format!("http://{}", listener.local_addr().expect("bound"));
        let mut tasks = vec![];
        {
            let (config, aws, shutdown) = (config.clone(), aws.clone(), shutdown.clone());
            tasks.push(tokio::spawn(async move {
                local::serve_api(&config, &aws, outbox::wiring::message_store(&config, &aws), listener, shutdown)
                    .await
                    .expect("serve");
            }));
        }
        if options.consumers.delivery() {
            let delivery = Arc::new(outbox::wiring::delivery(&config, &aws, options.providers.clone()));
            let source = EventSource {
                sqs: aws.sqs.clone(),
                queue_url: config.queue_url.clone(),
                wait: POLL_WAIT,
                timeout: config.delivery_timeout,
            };
            let shutdown = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                source.run(|event, deadline| outbox::deliver::handle_batch(&delivery, event, deadline), shutdown).await;
            }));
        }
        if options.consumers.stream() {
            // The status-stream consumer keeps the counters, as in a deployment.
            let (config, aws, endpoint, shutdown) =
                (config.clone(), aws.clone(), settings.endpoint.clone(), shutdown.clone());
            tasks.push(tokio::spawn(async move {
                local::run_status_stream(&config, &aws, &endpoint, shutdown).await;
            }));
        }
        if options.consumers == Consumers::Both {
            let dead_letters = Arc::new(outbox::wiring::dead_letters(&config, &aws));
            let source = EventSource {
                sqs: aws.sqs.clone(),
                queue_url: config.dlq_url.clone(),
                wait: POLL_WAIT,
                timeout: config.delivery_timeout,
            };
            let shutdown_dead_letters = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                source
                    .run(
                        |event, _| outbox::deliver::dead_letter::handle_batch(&dead_letters, event),
                        shutdown_dead_letters,
                    )
                    .await;
            }));
            // The webhook sender, on the events the status stream queues.
            let (config, aws) = (config.clone(), aws.clone());
            tasks.push(tokio::spawn(async move {
                local::run_webhooks(&config, &aws, POLL_WAIT, shutdown).await;
            }));
        }
        Stack { config, prefix: settings.prefix, aws, base_url, http: reqwest::Client::new(), stop, tasks }
    }

    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(self.aws.dynamodb.clone(), &self.config.table)
    }

    /// A second org with its own key and phone; returns (org, api key, phone).
    pub async fn add_org(&self, number: &str) -> (OrgId, String, Phone) {
        let store = self.store();
        let org = OrgId::generate();
        let now = SystemClock.now();
        store.put_org(&org, "another org", now).await.expect("org");
        let key = NewApiKey::generate(org.clone(), None, now);
        store.put_api_key(&key.hash, &key.record).await.expect("key");
        let phone = Phone {
            org_id: org.clone(),
            phone_id: PhoneId::generate(),
            number: number.to_string(),
            provider: ProviderSettings::Sandbox,
            created_at: now,
        };
        store.put_phone(&phone).await.expect("phone");
        (org, key.secret.expose_secret().to_string(), phone)
    }

    /// `POST /v1/message/send` with the local key.
    pub async fn send(&self, body: Value) -> (StatusCode, Value) {
        self.send_as(LOCAL_API_KEY, body).await
    }

    pub async fn send_as(&self, key: &str, body: Value) -> (StatusCode, Value) {
        self.post_as(key, "/v1/message/send", body).await
    }

    /// A JSON POST of `body` to `path` with `key`.
    pub async fn post_as(&self, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let response =
            self.http.post(format!("{}{path}", self.base_url)).bearer_auth(key).json(&body).send().await.expect("post");
        json_of(response).await
    }

    pub async fn get_as(&self, key: &str, path: &str) -> (StatusCode, Value) {
        let response = self.http.get(format!("{}{path}", self.base_url)).bearer_auth(key).send().await.expect("get");
        json_of(response).await
    }

    pub async fn status(&self, id: &str) -> (StatusCode, Value) {
        self.get_as(LOCAL_API_KEY, &format!("/v1/message/{id}/status")).await
    }

    /// Polls the status until `done` holds; panics with the last status after `timeout`.
    pub async fn wait_for(&self, id: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (code, status) = self.status(id).await;
            if code == StatusCode::OK && done(&status) {
                return status;
            }
            assert!(Instant::now() < deadline, "gave up waiting for {id}; last status {code}: {status}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

pub async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let code = response.status();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({code}): {text}"));
    (code, value)
}

/// Every non-2xx answer has `{code, message}` with a snake_case code.
pub fn assert_error_shape(body: &Value) {
    let code = body["code"].as_str().unwrap_or_else(|| panic!("no code in {body}"));
    assert!(
        !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "code {code:?}"
    );
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "no message in {body}");
}

/// Wraps the sandbox and counts provider calls per queue_id, optionally slowly.
pub struct CountingProvider {
    pub calls: std::sync::Mutex<std::collections::HashMap<outbox::domain::ids::QueueId, u32>>,
    pub latency: Duration,
}

impl CountingProvider {
    pub fn new(latency: Duration) -> Arc<CountingProvider> {
        Arc::new(CountingProvider { calls: Default::default(), latency })
    }

    pub fn calls_for(&self, queue_id: &str) -> u32 {
        self.calls.lock().map(|calls| calls.get(queue_id).copied().unwrap_or(0)).unwrap_or(0)
    }
}

#[async_trait::async_trait]
impl outbox::providers::Provider for CountingProvider {
    async fn deliver(
        &self,
        message: &outbox::domain::message::MessageRecord,
        attempt: u32,
    ) -> Result<outbox::providers::Receipt, outbox::providers::DeliveryError> {
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry(message.queue_id.clone()).or_default() += 1;
        }
        tokio::time::sleep(self.latency).await;
        outbox::providers::sandbox::Sandbox.deliver(message, attempt).await
    }
}

impl Stack {
    /// An event source over the jobs queue, for tests that drive the handlers by hand.
    pub fn jobs_source(&self) -> EventSource {
        EventSource {
            sqs: self.aws.sqs.clone(),
            queue_url: self.config.queue_url.clone(),
            wait: POLL_WAIT,
            timeout: self.config.delivery_timeout,
        }
    }

    pub fn dlq_source(&self) -> EventSource {
        EventSource {
            sqs: self.aws.sqs.clone(),
            queue_url: self.config.dlq_url.clone(),
            wait: POLL_WAIT,
            timeout: self.config.delivery_timeout,
        }
    }

    /// Receives from `source` until `count` records arrived (bounded by `timeout`).
    pub async fn receive_records(
        &self,
        source: &EventSource,
        count: usize,
        timeout: Duration,
    ) -> aws_lambda_events::event::sqs::SqsEvent {
        let arn = source.queue_arn().await;
        let deadline = Instant::now() + timeout;
        let mut all = aws_lambda_events::event::sqs::SqsEvent::default();
        while all.records.len() < count {
            assert!(Instant::now() < deadline, "only {} of {count} records arrived", all.records.len());
            let event = source.receive(&arn).await.expect("receive");
            all.records.extend(event.records);
        }
        all
    }

    /// The deadline an invocation of the delivery function starting now would get.
    pub fn deadline(&self) -> outbox::domain::time::Timestamp {
        use outbox::ports::Clock;
        outbox::ports::SystemClock.now().plus(self.config.delivery_timeout)
    }
}
