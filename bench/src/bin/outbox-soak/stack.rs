//! The soak's stack: moto, the resources and seed, the API process, the consumer process (started,
//! SIGKILLed and restarted, each run with its own log) and `outbox-admin` as an operator runs it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use outbox::Config;
use outbox::adapters::aws::AwsClients;
use outbox::local;
use outbox::local::store_faults::STORE_FAULTS_VAR;
use outbox_bench::processes::{Moto, Service, ServiceSpec, env_vars};
use outbox_bench::stack::{Api, provision, start_api};
use outbox_bench::{loopback_client, sibling_binary};

/// The consumer's lease: short, so a killed consumer's jobs are taken over within seconds, and
/// above the provider latency plus the 5 s the delivery keeps back for recording the outcome.
const LEASE_SECS: u64 = 8;
/// The jobs queue's visibility timeout: twice the lease, as in AWS it is above the function timeout.
const VISIBILITY_SECS: u64 = 16;
/// Jobs in flight in one consumer process: one SQS batch on the jobs queue. A kill can leave at
/// most this many provider calls unrecorded.
pub const BATCH: usize = 10;

/// The stack's processes and where they log.
pub struct Stack {
    pub config: Config,
    pub aws: AwsClients,
    pub base: String,
    pub http: reqwest::Client,
    pub consumers: Arc<Mutex<Consumers>>,
    pub admin: ServiceSpec,
    _api: Service,
    _moto: Moto,
}

/// The consumer process: restarted after every kill, each run with its own log.
pub struct Consumers {
    spec: ServiceSpec,
    dir: PathBuf,
    running: Option<Service>,
    starts: usize,
    pub kills: usize,
}

impl Consumers {
    pub fn start(&mut self) -> Result<(), String> {
        self.starts += 1;
        let mut spec = self.spec.clone();
        spec.log = self.dir.join(format!("consumers-{}.log", self.starts));
        self.running = Some(spec.spawn()?);
        Ok(())
    }

    /// A chaos kill: SIGKILL, counted.
    pub fn kill(&mut self) {
        if let Some(mut service) = self.running.take() {
            service.kill();
            self.kills += 1;
        }
    }

    /// Stops the consumers (not counted as a chaos kill) and starts them with `faults`.
    pub fn restart_with(&mut self, faults: &str) -> Result<(), String> {
        self.stop();
        self.spec.set_env("OUTBOX_SANDBOX_FAULTS", faults);
        self.start()
    }

    /// Stops the consumers, not as a chaos kill.
    pub fn stop(&mut self) {
        if let Some(mut service) = self.running.take() {
            service.kill();
        }
    }
}

/// Moto, the resources and seed (created here, so the processes find them), the API and the
/// consumers, the latter with the sandbox's `faults`, both with `store_faults` (DynamoDB
/// throttles) when given; logs go to `dir`.
pub async fn start_stack(dir: &Path, prefix: &str, faults: &str, store_faults: Option<&str>) -> Result<Stack, String> {
    let moto = Moto::start(&dir.join("moto.log"))?;
    let mut common = env_vars(&[
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OUTBOX_LOCAL_PREFIX", prefix),
        ("OUTBOX_RETRY_BASE_SECS", "1"),
        ("OUTBOX_DELIVERY_TIMEOUT_SECS", &LEASE_SECS.to_string()),
        ("OUTBOX_LOCAL_VISIBILITY_TIMEOUT_SECS", &VISIBILITY_SECS.to_string()),
        // The soak measures delivery, not the per-key limit: one key sends everything.
        ("OUTBOX_RATE_LIMIT_PER_MINUTE", "off"),
        // The processes' log filter: RUST_LOG when set for the soak itself.
        ("RUST_LOG", &local::env_or("RUST_LOG", "warn")),
    ]);
    let (config, aws) = provision(&moto.endpoint, prefix, &common).await?;
    // After provisioning, which seeds through the same variables and must not be throttled.
    if let Some(store_faults) = store_faults {
        common.extend(env_vars(&[(STORE_FAULTS_VAR, store_faults)]));
    }
    let http = loopback_client()?;
    let Api { base, service: api } = start_api(&http, &common, dir.join("api.log")).await?;

    let mut consumer_spec = ServiceSpec {
        binary: sibling_binary("outbox-local")?,
        args: vec!["consumers".into()],
        env: common.clone(),
        log: PathBuf::new(),
    };
    consumer_spec.set_env("OUTBOX_SANDBOX_FAULTS", faults);
    let mut consumers = Consumers { spec: consumer_spec, dir: dir.to_path_buf(), running: None, starts: 0, kills: 0 };
    consumers.start()?;
    let admin =
        ServiceSpec { binary: sibling_binary("outbox-admin")?, args: vec![], env: common, log: dir.join("admin.log") };
    Ok(Stack { config, aws, base, http, consumers: Arc::new(Mutex::new(consumers)), admin, _api: api, _moto: moto })
}
