//! `outbox-bench` (`make bench`): the figures of issue 5, each measured in one run against its
//! baseline, printed as a table and written to `bench/results.json`. Run it through
//! `scripts/bench.sh`, which builds the release binaries and runs the criterion benchmark first.
//! Wall-clock figures are compared as ratios within this run; nothing here asserts a time.
//! This file holds the options, the order of the run and the output; each figure has its module.

mod batch;
mod cold_start;
mod cost;
mod handler_cpu;
mod harness;
mod latency;
mod peak_rss;
mod report;
mod requests;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use serde_json::{Value, json};

use outbox_bench::processes::Moto;
use outbox_bench::{loopback_client, workspace_root};

use harness::Bench;
use report::Results;

const DEFAULT_OUT: &str = "bench/results.json";

#[derive(Parser, Debug)]
#[command(about = "Issue 5's benchmark figures: a table on stdout and bench/results.json")]
struct Options {
    /// Sends counted per path for figure 1.
    #[arg(long, default_value_t = 200)]
    counted_sends: usize,
    /// Latency samples for figure 2 (each: one send through the runner, one bare-SDK baseline).
    #[arg(long, default_value_t = 300)]
    latency_samples: usize,
    /// Batches timed for figure 4.
    #[arg(long, default_value_t = 5)]
    batches: usize,
    /// Cold starts per binary for figure 5 (a few ms each; fewer than ~60 leaves the median noisy).
    #[arg(long, default_value_t = 61)]
    cold_starts: usize,
    /// Fresh API processes measured for figure 6.
    #[arg(long, default_value_t = 3)]
    rss_runs: usize,
    /// Where the JSON goes.
    #[arg(long, default_value = DEFAULT_OUT)]
    out: PathBuf,
    /// Only these figures, to iterate on one (comma-separated: requests, latency, cpu, batch,
    /// cold-start, rss, cost; cost takes cpu's and batch's durations when they run too, else the
    /// model's defaults). Its JSON goes to target/bench/ unless --out.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = Options::parse();
    match run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<(), String> {
    let started = Instant::now();
    let root = workspace_root();
    let logs = root.join("target/bench");
    std::fs::create_dir_all(&logs).map_err(|err| format!("cannot create {}: {err}", logs.display()))?;
    let moto = Moto::start(&logs.join("moto.log"))?;
    let http = loopback_client()?;
    let bench = Bench { moto: &moto, http: &http, logs: &logs };

    let mut results = Results::default();
    let wants = |figure: &str| options.only.is_empty() || options.only.iter().any(|only| only == figure);
    if wants("requests") {
        results.measure(requests::per_message(&bench, options.counted_sends)).await?;
    }
    if wants("latency") {
        results.measure(latency::send_latency(&bench, options.latency_samples)).await?;
    }
    if wants("cpu") {
        results.measure(async { handler_cpu::from_criterion(&root) }).await?;
    }
    if wants("batch") {
        results.measure(batch::batch_ratio(&bench, options.batches)).await?;
    }
    if wants("cold-start") {
        results.measure(cold_start::cold_starts(&root, options.cold_starts)).await?;
    }
    if wants("rss") {
        results.measure(peak_rss::peak_rss(&bench, options.rss_runs)).await?;
    }
    if wants("cost") {
        let details = results.details.clone();
        results.measure(cost::figures(&details)).await?;
    }

    println!("{}", report::render(&results.figures));
    let json = json!({
        "command": if options.only.is_empty() { "make bench".to_string() } else { format!("outbox-bench --only {}", options.only.join(",")) },
        "generated_at": outbox::ports::Clock::now(&outbox::ports::SystemClock),
        "duration_secs": started.elapsed().as_secs_f64().round(),
        "machine": machine(),
        "figures": results.figures,
        "details": results.details,
        "prices": outbox_bench::cost::prices::PRICES,
    });
    // A partial run does not overwrite the full run's results.
    let out = match (options.only.is_empty(), options.out.as_path() == std::path::Path::new(DEFAULT_OUT)) {
        (false, true) => PathBuf::from("target/bench/results-only.json"),
        _ => options.out.clone(),
    };
    let out = root.join(&out);
    let text = serde_json::to_string_pretty(&json).map_err(|err| err.to_string())?;
    std::fs::write(&out, text + "\n").map_err(|err| format!("cannot write {}: {err}", out.display()))?;
    println!("written to {} in {:.0} s", out.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// What the figures were measured on.
fn machine() -> Value {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    json!({"cpus": cpus, "cpu": model, "arch": std::env::consts::ARCH, "note": "shared with other builds; compare ratios, not absolute times"})
}
