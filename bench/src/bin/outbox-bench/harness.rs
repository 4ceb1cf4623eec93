//! What every figure's measurement shares: the emulator and HTTP client of the run, a fresh API
//! stack per measurement, the sends it is driven with, and the jobs queue read as the consumers read it.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use outbox::Config;
use outbox::adapters::aws::AwsClients;
use outbox::local::event_source::EventSource;
use outbox::local::{LOCAL_API_KEY, LOCAL_PHONE_NUMBER};
use outbox_bench::fresh_prefix;
use outbox_bench::processes::{Moto, Service, env_vars};
use outbox_bench::stack::{Api, provision, start_api};

/// The delivery event source's batch size (template.yaml BatchSize).
pub const BATCH: usize = 10;

/// The run's emulator, HTTP client and log folder, borrowed by every measurement.
pub struct Bench<'a> {
    pub moto: &'a Moto,
    pub http: &'a reqwest::Client,
    pub logs: &'a Path,
}

/// A fresh stack for one measurement: resources created directly on moto, and an API process
/// whose AWS endpoint is `endpoint` (moto itself, or a counting proxy in front of it).
pub struct ApiStack {
    pub config: Config,
    pub aws: AwsClients,
    pub base: String,
    pub api: Service,
}

impl Bench<'_> {
    pub async fn api_stack(&self, endpoint: &str, rate_limit: &str) -> Result<ApiStack, String> {
        let prefix = fresh_prefix("bench");
        let env = env_vars(&[
            ("AWS_ENDPOINT_URL", endpoint),
            ("OUTBOX_LOCAL_PREFIX", &prefix),
            // Ten seconds, as in AWS: a warm instance looks its key and phones up once per ten seconds.
            ("OUTBOX_AUTH_CACHE_SECS", "10"),
            ("OUTBOX_RATE_LIMIT_PER_MINUTE", rate_limit),
            ("RUST_LOG", "warn"),
        ]);
        let (config, aws) = provision(&self.moto.endpoint, &prefix, &env).await?;
        let Api { base, service } = start_api(self.http, &env, self.logs.join(format!("api-{prefix}.log"))).await?;
        Ok(ApiStack { config, aws, base, api: service })
    }

    pub async fn send_text(&self, base: &str, i: usize) -> Result<(), String> {
        self.send_body(base, text_body(i)).await
    }

    pub async fn send_body(&self, base: &str, body: String) -> Result<(), String> {
        let response = self
            .http
            .post(format!("{base}/v1/message/send"))
            .bearer_auth(LOCAL_API_KEY)
            .header("content-type", "application/json")
            .header("x-phone", LOCAL_PHONE_NUMBER)
            .body(body)
            .send()
            .await
            .map_err(|err| format!("send failed: {err}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(format!("send answered {status}: {text}"));
        }
        Ok(())
    }
}

/// The body of the bench's `i`-th text send.
pub fn text_body(i: usize) -> String {
    json!({"chat_id": format!("9199{:08}", i), "message": format!("Your order #{i} has shipped.")}).to_string()
}

/// The jobs queue of `config`, long-polled for 1 s as the local consumers poll it, and its ARN
/// (one GetQueueAttributes, made before any counting starts).
pub async fn jobs_source(aws: &AwsClients, config: &Config) -> (EventSource, String) {
    let source = EventSource {
        sqs: aws.sqs.clone(),
        queue_url: config.queue_url.clone(),
        wait: Duration::from_secs(1),
        timeout: config.delivery_timeout,
    };
    let arn = source.queue_arn().await;
    (source, arn)
}
