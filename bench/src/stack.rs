//! The Outbox stack both binaries run on the emulator: its resources provisioned and seeded from
//! this process (so that every process started on them finds them), and `outbox-local api` on a
//! free loopback port.

use std::path::PathBuf;
use std::time::Duration;

use outbox::Config;
use outbox::adapters::aws::AwsClients;
use outbox::local::{self, LocalSettings};

use crate::processes::{Service, ServiceSpec, free_port, wait_healthy};
use crate::sibling_binary;

/// How long a fresh API process may take to answer its health check.
const API_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Creates `prefix`'s table, queues and bucket on the emulator at `endpoint` and seeds the local
/// org, key and phone. The configuration takes the `OUTBOX_*` entries of `env`, as the processes
/// started with `env` do, so that it describes the same stack they run.
pub async fn provision(endpoint: &str, prefix: &str, env: &[(String, String)]) -> Result<(Config, AwsClients), String> {
    let settings = LocalSettings {
        endpoint: endpoint.to_string(),
        prefix: prefix.to_string(),
        overrides: env.iter().filter(|(name, _)| name.starts_with("OUTBOX_")).cloned().collect(),
    };
    let (config, aws) =
        local::prepare(&settings).await.map_err(|err| format!("provisioning on the emulator failed: {err}"))?;
    local::seed(&config, &aws).await.map_err(|err| format!("seeding failed: {err}"))?;
    Ok((config, aws))
}

/// A running `outbox-local api`, SIGKILLed when dropped.
pub struct Api {
    /// `http://127.0.0.1:<port>`, without the `/v1`.
    pub base: String,
    pub service: Service,
}

/// Starts `outbox-local api` with `env` and a free `PORT`, logging to `log`, and waits until it
/// answers its health check.
pub async fn start_api(http: &reqwest::Client, env: &[(String, String)], log: PathBuf) -> Result<Api, String> {
    let port = free_port()?;
    let mut spec =
        ServiceSpec { binary: sibling_binary("outbox-local")?, args: vec!["api".into()], env: env.to_vec(), log };
    spec.set_env("PORT", &port.to_string());
    let mut service = spec.spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(http, &base, &mut service, API_START_TIMEOUT).await?;
    Ok(Api { base, service })
}
