//! Figure 5: each Lambda binary's cold start, from exec to its first `next` request under a
//! local Runtime API, against the smallest `lambda_runtime` function (`hello-lambda`), with the
//! runs of the four binaries interleaved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use outbox_bench::median;
use outbox_bench::processes::env_vars;
use outbox_bench::runtime_api::RuntimeApi;

use crate::report::{Figure, Measurement};

/// The Lambda binaries, then the baseline.
const BINARIES: [&str; 6] =
    ["outbox-api", "outbox-delivery", "outbox-dead-letter", "outbox-status-stream", "outbox-webhook", "hello-lambda"];
/// How many of `BINARIES` are functions.
const FUNCTIONS: usize = BINARIES.len() - 1;

#[derive(Debug, Serialize)]
pub struct ColdStarts {
    runs: usize,
    /// Binary → (median ms from exec to the first `next`, size in bytes).
    binaries: BTreeMap<String, (f64, u64)>,
    hello_ms: f64,
    hello_bytes: u64,
    /// Sizes of the cargo-lambda builds (`make lambda`), when present.
    lambda_zip_binaries: BTreeMap<String, u64>,
}

impl Measurement for ColdStarts {
    const TITLE: &'static str = "cold starts under a local Runtime API";
    const KEY: &'static str = "5_cold_start";

    fn figures(&self) -> Vec<Figure> {
        self.binaries
            .iter()
            .map(|(name, (ms, bytes))| {
                Figure::new(&format!("5:{name}"), &format!("cold start {name} (exec → first `next`)"), *ms, "ms")
                    .against(self.hello_ms)
                    .goal("≤ 1.5× hello-world", ms / self.hello_ms, 1.5)
                    .note(format!(
                        "{:.1} MB binary vs hello-world {:.1} MB; median of {} interleaved runs",
                        *bytes as f64 / 1e6,
                        self.hello_bytes as f64 / 1e6,
                        self.runs
                    ))
            })
            .collect()
    }
}

/// `runs` rounds, each starting every binary of target/release once.
pub async fn cold_starts(root: &Path, runs: usize) -> Result<ColdStarts, String> {
    let release = root.join("target/release");
    for name in BINARIES {
        if !release.join(name).exists() {
            return Err(format!("target/release/{name} is missing: `cargo build --release --workspace --bins` first"));
        }
    }
    let runtime = RuntimeApi::start().await?;
    let mut timings: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for _ in 0..runs {
        for name in BINARIES {
            let mut command = Command::new(release.join(name));
            command.env_clear().envs(lambda_environment(name));
            let elapsed =
                runtime.cold_start(command, Duration::from_secs(10)).await.map_err(|err| format!("{name}: {err}"))?;
            timings.entry(name).or_default().push(elapsed.as_secs_f64() * 1e3);
        }
    }
    let size = |path: PathBuf| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut binaries = BTreeMap::new();
    for name in &BINARIES[..FUNCTIONS] {
        binaries.insert(name.to_string(), (median(&timings[name]), size(release.join(name))));
    }
    let lambda_zip_binaries = BINARIES[..FUNCTIONS]
        .iter()
        .map(|name| (name.to_string(), size(root.join(format!("target/lambda/{name}/bootstrap")))))
        .filter(|(_, bytes)| *bytes > 0)
        .collect();
    Ok(ColdStarts {
        runs,
        binaries,
        hello_ms: median(&timings["hello-lambda"]),
        hello_bytes: size(release.join("hello-lambda")),
        lambda_zip_binaries,
    })
}

/// What Lambda gives a function (and what our functions need) when AWS_LAMBDA_RUNTIME_API is
/// the emulator: no network is touched before the first `next`.
pub fn lambda_environment(name: &str) -> Vec<(String, String)> {
    env_vars(&[
        ("AWS_LAMBDA_FUNCTION_NAME", name),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("OUTBOX_TABLE", "bench-table"),
        ("OUTBOX_QUEUE_URL", "http://127.0.0.1:9/000000000000/bench-jobs"),
        ("OUTBOX_DLQ_URL", "http://127.0.0.1:9/000000000000/bench-dlq"),
        ("OUTBOX_EVENTS_QUEUE_URL", "http://127.0.0.1:9/000000000000/bench-events"),
        ("OUTBOX_MEDIA_BUCKET", "bench-media"),
        ("RUST_LOG", "info"),
    ])
}
