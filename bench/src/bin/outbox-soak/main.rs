//! `outbox-soak`: the chaos soak (`make soak N=...`; 1,000 messages in `make test`).
//!
//! Starts moto, the API (`outbox-local api`) and the consumers (`outbox-local consumers`, in
//! their own process, with the sandbox's fault injection on), sends N messages across many
//! chats, SIGKILLs and restarts the consumers at random moments, waits (bounded) until every
//! accepted message is terminal, then checks the invariants. Then a provider outage: every
//! delivery fails until the jobs are dead-lettered, `outbox-admin dlq replay --all` runs after
//! it, and every replayed message must recover. Exits non-zero on any violated invariant.
//! Nothing is a timed assertion: the time bounds only stop a run that would never finish.

mod checks;
mod load;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use outbox::Config;
use outbox::adapters::aws::AwsClients;
use outbox::domain::message::{MessageRecord, Status};
use outbox::local::{self, LocalSettings};
use outbox::providers::sandbox::ALWAYS_TRANSIENT;
use outbox_bench::processes::{Moto, Service, ServiceSpec, free_port, wait_healthy};
use outbox_bench::records::{jobs_in, scan_messages, scan_statuses};
use outbox_bench::{fresh_prefix, sibling_binary, workspace_root};

use checks::{Analysis, analyse, parse_calls};

#[derive(Parser, Debug)]
#[command(about = "The chaos soak: N sends under injected faults and consumer kills, then an outage and a DLQ replay")]
struct Options {
    /// Messages to send in the chaos phase.
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Seeds the chats, the kill times and the sandbox's decisions.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// SIGKILLs of the consumer process (default: N/250, between 3 and 12).
    #[arg(long)]
    kills: Option<usize>,
    /// Sends in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// The sandbox's faults in the chaos phase (seed and call log are added).
    #[arg(long, default_value = "transient=0.30,permanent=0.05,latency_ms=0-200")]
    faults: String,
    /// Messages sent during the outage (default: N/20, at least 20).
    #[arg(long)]
    outage_messages: Option<usize>,
    /// Upper bound on each wait for the queues to drain, in seconds (default: 120 + N/10).
    #[arg(long)]
    drain_timeout_secs: Option<u64>,
    /// Jobs allowed to wait in the queue before sends are held back (moto's SQS work per
    /// receive grows with the square of the queue's depth; 200 keeps the consumer fed).
    #[arg(long, default_value_t = 200)]
    backlog: u64,
    /// Where logs and the report go.
    #[arg(long, default_value = "target/soak")]
    out: PathBuf,
}

/// The consumer's lease: short, so a killed consumer's jobs are taken over within seconds, and
/// above the provider latency plus the 5 s the delivery keeps back for recording the outcome.
const LEASE_SECS: u64 = 8;
/// The jobs queue's visibility timeout: twice the lease, as in AWS it is above the function timeout.
const VISIBILITY_SECS: u64 = 16;
/// Jobs in flight in one consumer process: one SQS batch on the jobs queue. A kill can leave at
/// most this many provider calls unrecorded.
const BATCH: usize = 10;

#[tokio::main]
async fn main() -> ExitCode {
    let options = Options::parse();
    // On Ctrl-C or SIGTERM the run is dropped, and with it (SIGKILL) every process it started.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let stopped = async {
        match terminate.as_mut() {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        result = run(options) => result,
        _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
        _ = stopped => Err("terminated".into()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("soak: {err}");
            ExitCode::from(2)
        }
    }
}

/// The stack's processes and where they log.
struct Stack {
    config: Config,
    aws: AwsClients,
    base: String,
    http: reqwest::Client,
    consumers: Arc<Mutex<Consumers>>,
    admin: ServiceSpec,
    _api: Service,
    _moto: Moto,
}

/// The consumer process: restarted after every kill, each run with its own log.
struct Consumers {
    spec: ServiceSpec,
    dir: PathBuf,
    running: Option<Service>,
    starts: usize,
    kills: usize,
}

impl Consumers {
    fn start(&mut self) -> Result<(), String> {
        self.starts += 1;
        let mut spec = self.spec.clone();
        spec.log = self.dir.join(format!("consumers-{}.log", self.starts));
        self.running = Some(spec.spawn()?);
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut service) = self.running.take() {
            service.kill();
            self.kills += 1;
        }
    }

    /// Stops the consumers (not counted as a chaos kill) and starts them with `faults`.
    fn restart_with(&mut self, faults: &str) -> Result<(), String> {
        if let Some(mut service) = self.running.take() {
            service.kill();
        }
        set_env(&mut self.spec.env, "OUTBOX_SANDBOX_FAULTS", faults);
        self.start()
    }
}

fn set_env(env: &mut Vec<(String, String)>, name: &str, value: &str) {
    env.retain(|(k, _)| k != name);
    env.push((name.to_string(), value.to_string()));
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn run(options: Options) -> Result<bool, String> {
    let started = Instant::now();
    let root = workspace_root();
    let prefix = fresh_prefix("soak");
    let dir = root.join(&options.out).join(&prefix);
    std::fs::create_dir_all(&dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    let call_log = dir.join("provider-calls.log");
    let outage_file = dir.join("outage");
    let n = options.messages;
    let kills = options.kills.unwrap_or((n / 250).clamp(3, 12));
    let drain_timeout = Duration::from_secs(options.drain_timeout_secs.unwrap_or(120 + n as u64 / 10));
    let mut rng = fastrand::Rng::with_seed(options.seed);
    let chaos_faults = format!("{},seed={},call_log={}", options.faults, options.seed, call_log.display());
    println!("soak: {n} messages, {kills} consumer kills, faults {chaos_faults}; logs in {}", dir.display());

    let stack = start_stack(&dir, &prefix, &chaos_faults).await?;
    let mut report = Report::default();

    // Phase 1: chaos. Sends and kills run together; the consumers are always running at the end.
    let pace = load::Pace { depth: Arc::new(AtomicU64::new(0)), limit: options.backlog };
    let depth_poller = tokio::spawn(poll_depth(stack.aws.clone(), stack.config.queue_url.clone(), pace.depth.clone()));
    let plan = load::plan(n, &mut rng, &prefix);
    let stop_chaos = Arc::new(AtomicBool::new(false));
    let kill_schedule = kill_times(&mut rng, kills, n);
    let chaos = tokio::spawn(chaos_monkey(stack.consumers.clone(), kill_schedule, stop_chaos.clone(), rng.u64(..)));
    let load = load::send_all(&stack.http, &stack.base, plan, options.concurrency, &pace).await;
    println!(
        "soak: {} accepted in {:.1} s ({} duplicate-key retries, {} retried answers); draining",
        load.accepted.len(),
        load.elapsed.as_secs_f64(),
        load.duplicate_sends,
        load.retried
    );
    let accepted = load.accepted.clone();
    let drained = wait_drained(&stack, &accepted, drain_timeout, |_, _| true, Some(&stop_chaos)).await;
    stop_chaos.store(true, Ordering::SeqCst);
    let _ = chaos.await;
    // A kill just before the stop leaves the restarted consumers to settle what it interrupted.
    let drained = match drained {
        Ok(_) => wait_drained(&stack, &accepted, drain_timeout, |_, _| true, None).await,
        Err(err) => Err(err),
    };
    let chaos_elapsed = started.elapsed();
    let kills_done = lock(&stack.consumers).kills;
    let phase1 = inspect(&stack, &accepted, &call_log, kills_done * BATCH).await?;
    report.phase("chaos", &phase1.analysis, chaos_elapsed);
    report.violations.extend(load.violations.iter().cloned());
    report.violations.extend(phase1.analysis.violations.iter().map(|v| format!("chaos: {v}")));
    if let Err(err) = &drained {
        report.violations.push(format!("chaos: {err}"));
    }
    let strays = phase1.records.len().saturating_sub(accepted.len());
    let unexplained = stray_records(&phase1.records, &accepted).saturating_sub(load.unknown);
    if unexplained > 0 {
        report.violations.push(format!("chaos: {unexplained} records that no accepted send explains"));
    }
    report.lines.push(format!(
        "load: {} sends, {} accepted, {} duplicate-key retries ({} answered the first queue_id), {} retried 503/429/409, {} unknown, {} records not accepted",
        n,
        load.accepted.len(),
        load.duplicate_sends,
        load.duplicate_same_answer,
        load.retried,
        load.unknown,
        strays
    ));
    report.lines.push(format!(
        "consumer kills: {kills_done} (SIGKILL, restarted each time); torn call-log lines: {}",
        phase1.torn_lines
    ));

    // Phase 2: an outage, dead letters, a replay.
    let outage_started = Instant::now();
    let outage_n = options.outage_messages.unwrap_or((n / 20).max(20));
    let outage_faults = format!(
        "latency_ms=0-20,seed={},outage_file={},call_log={}",
        options.seed,
        outage_file.display(),
        call_log.display()
    );
    std::fs::write(&outage_file, "").map_err(|err| format!("cannot create {}: {err}", outage_file.display()))?;
    lock(&stack.consumers).restart_with(&outage_faults)?;
    let outage_load =
        load::send_all(&stack.http, &stack.base, load::plan_plain(outage_n, &mut rng), options.concurrency, &pace)
            .await;
    depth_poller.abort();
    report.violations.extend(outage_load.violations.iter().map(|v| format!("outage: {v}")));
    let outage_ids = outage_load.accepted.clone();
    let dead_lettered = |status: &str, dead: bool| status == "failed" && dead;
    if let Err(err) = wait_drained(&stack, &outage_ids, drain_timeout, dead_lettered, None).await {
        report.violations.push(format!("outage: {err}"));
    }
    std::fs::remove_file(&outage_file).map_err(|err| format!("cannot remove {}: {err}", outage_file.display()))?;
    let before = scan_messages(&stack.aws, &stack.config.table).await?;
    let to_replay: Vec<&MessageRecord> = before.iter().filter(|r| r.dead_lettered_at.is_some()).collect();
    let replay = replay_all(&stack.admin)?;
    if replay.replayed != to_replay.len() || replay.failed != 0 {
        report.violations.push(format!(
            "replay: `dlq replay --all` replayed {} and failed {}, with {} dead-lettered records",
            replay.replayed,
            replay.failed,
            to_replay.len()
        ));
    }
    let replayed_ids: Vec<String> = to_replay.iter().map(|r| r.queue_id.to_string()).collect();
    // Settled: sent, or (for the always-failing recipient) failed and dead-lettered again.
    let settled = |status: &str, dead: bool| status != "queued" && status != "sending" && (status != "failed" || dead);
    if let Err(err) = wait_drained(&stack, &replayed_ids, drain_timeout, settled, None).await {
        report.violations.push(format!("replay: {err}"));
    }
    let all: Vec<String> = accepted.iter().chain(&outage_ids).cloned().collect();
    let end = inspect(&stack, &all, &call_log, kills_done * BATCH).await?;
    let mut recovered = 0;
    for queue_id in &replayed_ids {
        let Some(record) = end.records.get(queue_id) else { continue };
        let always_failing = record.chat_id.digits() == Some(ALWAYS_TRANSIENT);
        match (always_failing, record.status, record.dead_lettered_at.is_some()) {
            (false, status, _) if checks::is_sent(status) => recovered += 1,
            (true, Status::Failed, true) => {}
            (_, status, dead) => report.violations.push(format!(
                "replay: {queue_id} ({}) ended {} (dead-lettered: {dead}) after the replay",
                record.chat_id.as_str(),
                status.as_str()
            )),
        }
    }
    let outage_dead =
        outage_ids.iter().filter(|id| to_replay.iter().any(|r| r.queue_id.as_str() == id.as_str())).count();
    if outage_dead != outage_ids.len() {
        report
            .violations
            .push(format!("outage: only {outage_dead} of {} outage messages were dead-lettered", outage_ids.len()));
    }
    report.violations.extend(end.analysis.violations.iter().map(|v| format!("end: {v}")));
    report.lines.push(format!(
        "outage: {} sent during the outage, {} dead-lettered; replay of all {} dead letters: {} recovered to sent, {} to {ALWAYS_TRANSIENT} failed again (as the contract says)",
        outage_ids.len(),
        outage_dead,
        replayed_ids.len(),
        recovered,
        replayed_ids.len() - recovered
    ));
    report.phase("after outage + replay (all messages)", &end.analysis, outage_started.elapsed());
    report.lines.push(format!("total time: {:.1} s", started.elapsed().as_secs_f64()));

    let text = report.render();
    println!("{text}");
    let _ = std::fs::write(dir.join("report.txt"), &text);
    let _ = std::fs::write(root.join(&options.out).join("latest-report.txt"), &text);
    lock(&stack.consumers).running.take();
    Ok(report.violations.is_empty())
}

/// Moto, the resources and seed (created here, so the processes find them), the API and the consumers.
async fn start_stack(dir: &Path, prefix: &str, faults: &str) -> Result<Stack, String> {
    let moto = Moto::start(&dir.join("moto.log"))?;
    let common: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OUTBOX_LOCAL_PREFIX", prefix),
        ("OUTBOX_RETRY_BASE_SECS", "1"),
        ("OUTBOX_DELIVERY_TIMEOUT_SECS", &LEASE_SECS.to_string()),
        ("OUTBOX_LOCAL_VISIBILITY_TIMEOUT_SECS", &VISIBILITY_SECS.to_string()),
        // The soak measures delivery, not the per-key limit: one key sends everything.
        ("OUTBOX_RATE_LIMIT_PER_MINUTE", "off"),
        // The processes' log filter: RUST_LOG when set for the soak itself.
        ("RUST_LOG", &local::env_or("RUST_LOG", "warn")),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let settings = LocalSettings {
        endpoint: moto.endpoint.clone(),
        prefix: prefix.to_string(),
        overrides: common.iter().filter(|(k, _)| k.starts_with("OUTBOX_")).cloned().collect(),
    };
    let (config, aws) = local::prepare(&settings).await.map_err(|err| format!("provisioning on moto failed: {err}"))?;
    local::seed(&config, &aws).await.map_err(|err| format!("seeding failed: {err}"))?;

    let runner = sibling_binary("outbox-local")?;
    let port = free_port()?;
    let mut api_env = common.clone();
    api_env.push(("PORT".into(), port.to_string()));
    let api_spec =
        ServiceSpec { binary: runner.clone(), args: vec!["api".into()], env: api_env, log: dir.join("api.log") };
    let mut api = api_spec.spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().no_proxy().build().map_err(|err| err.to_string())?;
    wait_healthy(&http, &base, &mut api, Duration::from_secs(60)).await?;

    let mut consumer_env = common.clone();
    consumer_env.push(("OUTBOX_SANDBOX_FAULTS".into(), faults.to_string()));
    let consumer_spec =
        ServiceSpec { binary: runner, args: vec!["consumers".into()], env: consumer_env, log: PathBuf::new() };
    let mut consumers = Consumers { spec: consumer_spec, dir: dir.to_path_buf(), running: None, starts: 0, kills: 0 };
    consumers.start()?;
    let admin =
        ServiceSpec { binary: sibling_binary("outbox-admin")?, args: vec![], env: common, log: dir.join("admin.log") };
    Ok(Stack { config, aws, base, http, consumers: Arc::new(Mutex::new(consumers)), admin, _api: api, _moto: moto })
}

/// Keeps `depth` at the jobs queue's depth, polled twice a second (for `load::Pace`).
async fn poll_depth(aws: AwsClients, queue_url: String, depth: Arc<AtomicU64>) {
    loop {
        if let Ok(jobs) = jobs_in(&aws, &queue_url).await {
            depth.store(jobs, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Kill moments, in seconds from the start, spread over the time the chaos phase is expected to
/// take (deliveries run at roughly 25 a second on two cores).
fn kill_times(rng: &mut fastrand::Rng, kills: usize, messages: usize) -> Vec<f64> {
    let expected = (messages as f64 / 25.0).max(10.0);
    let mut times: Vec<f64> = (0..kills).map(|_| 1.0 + rng.f64() * expected * 0.8).collect();
    times.sort_by(f64::total_cmp);
    times
}

/// SIGKILLs the consumers at each scheduled moment and restarts them after a short random pause.
async fn chaos_monkey(consumers: Arc<Mutex<Consumers>>, schedule: Vec<f64>, stop: Arc<AtomicBool>, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    for at in schedule {
        let wait = Duration::from_secs_f64(at).saturating_sub(started.elapsed());
        tokio::time::sleep(wait).await;
        if stop.load(Ordering::SeqCst) {
            break;
        }
        lock(&consumers).kill();
        tokio::time::sleep(Duration::from_millis(rng.u64(200..1500))).await;
        if let Err(err) = lock(&consumers).start() {
            eprintln!("soak: could not restart the consumers: {err}");
        }
    }
}

/// Polls (one projected Scan and two queue depths per round) until every id in `ids` satisfies
/// `done(status, dead_lettered)` and both queues are empty, or `timeout` passes. With `chaos`,
/// also waits for the chaos task to have finished its kills (it stops when told).
async fn wait_drained(
    stack: &Stack,
    ids: &[String],
    timeout: Duration,
    done: impl Fn(&str, bool) -> bool,
    chaos: Option<&AtomicBool>,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let final_status = ["sent", "delivered", "read", "failed", "cancelled"];
    loop {
        // The queues first: while they hold jobs nothing is settled, and a Scan of every record
        // would only slow the emulator down.
        let queued =
            jobs_in(&stack.aws, &stack.config.queue_url).await? + jobs_in(&stack.aws, &stack.config.dlq_url).await?;
        if queued > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            continue;
        }
        let statuses = scan_statuses(&stack.aws, &stack.config.table).await?;
        let unsettled: Vec<String> = ids
            .iter()
            .filter_map(|id| match statuses.get(id) {
                Some((status, dead)) if final_status.contains(&status.as_str()) && done(status, *dead) => None,
                Some((status, dead)) => Some(format!("{id} {status} (dead-lettered: {dead})")),
                None => Some(format!("{id} missing")),
            })
            .collect();
        let pending = unsettled.len();
        if pending == 0 && queued == 0 {
            if let Some(chaos) = chaos {
                chaos.store(true, Ordering::SeqCst);
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "gave up after {} s: {pending} of {} messages not settled, {queued} jobs still queued; for example {}",
                timeout.as_secs(),
                ids.len(),
                unsettled.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
}

struct Inspection {
    records: HashMap<String, MessageRecord>,
    analysis: Analysis,
    torn_lines: usize,
}

async fn inspect(
    stack: &Stack,
    accepted: &[String],
    call_log: &Path,
    max_duplicates: usize,
) -> Result<Inspection, String> {
    let records: HashMap<String, MessageRecord> = scan_messages(&stack.aws, &stack.config.table)
        .await?
        .into_iter()
        .map(|r| (r.queue_id.to_string(), r))
        .collect();
    let log = std::fs::read_to_string(call_log).unwrap_or_default();
    let (calls, torn_lines) = parse_calls(&log);
    let analysis = analyse(accepted, &records, &calls, max_duplicates);
    Ok(Inspection { records, analysis, torn_lines })
}

/// Records that are neither accepted nor a failed enqueue (which answered 503 and was not accepted).
fn stray_records(records: &HashMap<String, MessageRecord>, accepted: &[String]) -> usize {
    let accepted: std::collections::HashSet<&str> = accepted.iter().map(String::as_str).collect();
    records
        .values()
        .filter(|r| !accepted.contains(r.queue_id.as_str()))
        .filter(|r| !(r.status == Status::Failed && r.attempts == 0))
        .count()
}

struct ReplayOutcome {
    replayed: usize,
    failed: usize,
}

/// `outbox-admin dlq replay --all`, as an operator runs it; reads its summary line.
fn replay_all(admin: &ServiceSpec) -> Result<ReplayOutcome, String> {
    let output = admin
        .command()
        .args(["dlq", "replay", "--all"])
        .output()
        .map_err(|err| format!("could not run outbox-admin: {err}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let _ = std::fs::write(&admin.log, format!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    let summary = stdout.lines().last().unwrap_or_default();
    // "replayed R, not dead-lettered N, failed F"
    let number_after = |word: &str| -> Option<usize> {
        summary.split(", ").find_map(|part| part.strip_prefix(word)).and_then(|rest| rest.trim().parse().ok())
    };
    match (number_after("replayed "), number_after("failed ")) {
        (Some(replayed), Some(failed)) if output.status.success() || failed > 0 => {
            Ok(ReplayOutcome { replayed, failed })
        }
        _ => Err(format!("outbox-admin dlq replay --all failed ({}): {summary}", output.status)),
    }
}

#[derive(Default)]
struct Report {
    lines: Vec<String>,
    violations: Vec<String>,
}

impl Report {
    fn phase(&mut self, name: &str, analysis: &Analysis, elapsed: Duration) {
        let statuses: Vec<String> = analysis.by_status.iter().map(|(status, n)| format!("{status} {n}")).collect();
        self.lines.push(format!(
            "{name} ({:.1} s): accepted {}, terminal {} ({}), lost {}",
            elapsed.as_secs_f64(),
            analysis.accepted,
            analysis.accepted - analysis.lost.len(),
            statuses.join(", "),
            analysis.lost.len()
        ));
        self.lines.push(format!(
            "  provider calls {}; duplicates from kills: {} extra sends of sent messages + {} sent but recorded failed; {} failed calls unrecorded",
            analysis.provider_calls, analysis.duplicates, analysis.sent_but_failed, analysis.unrecorded_failures
        ));
        self.lines.push(format!(
            "  failed: {} transient (dead-lettered: {}), {} permanent; every failure has its reason: {}",
            analysis.failed_transient,
            analysis.dead_lettered,
            analysis.failed_permanent,
            if analysis.violations.iter().any(|v| v.contains("without a reason")) { "no" } else { "yes" }
        ));
    }

    fn render(&self) -> String {
        let mut text = String::from("\n== soak report\n");
        for line in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        if self.violations.is_empty() {
            text.push_str("all invariants hold\n");
        } else {
            text.push_str(&format!("{} VIOLATIONS:\n", self.violations.len()));
            for violation in self.violations.iter().take(50) {
                text.push_str(&format!("  - {violation}\n"));
            }
        }
        text
    }
}
