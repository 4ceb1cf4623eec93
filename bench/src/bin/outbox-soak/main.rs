//! `outbox-soak`: the chaos soak (`make soak N=...`; 1,000 messages in `make test`).
//!
//! Starts moto, the API (`outbox-local api`) and the consumers (`outbox-local consumers`, in
//! their own process, with the sandbox's fault injection on), sends N messages across many
//! chats, SIGKILLs and restarts the consumers at random moments, waits (bounded) until every
//! accepted message is terminal, then checks the invariants. Then a provider outage: every
//! delivery fails until the jobs are dead-lettered, `outbox-admin dlq replay --all` runs after
//! it, and every replayed message must recover. Throughout, a subscribed webhook receiver refuses
//! 30% of its calls, and must still get the final event of every terminal message (`webhooks`).
//! Exits non-zero on any violated invariant.
//! Nothing is a timed assertion: the time bounds only stop a run that would never finish.
//! This file holds the options and the order of the phases; each concern has its module.

mod chaos;
mod checks;
mod drain;
mod load;
mod replay;
mod report;
mod stack;
mod webhooks;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use outbox::domain::message::MessageRecord;
use outbox::providers::sandbox::ALWAYS_TRANSIENT;
use outbox_bench::records::scan_messages;
use outbox_bench::{fresh_prefix, lock, workspace_root};

use chaos::ChaosMonkey;
use drain::{any_final, dead_lettered, inspect, settled, stray_records, wait_drained};
use load::Pace;
use replay::replay_all;
use report::Report;
use stack::{BATCH, start_stack};

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
    /// DynamoDB throttles injected into the message store's writes, in the API and the consumers,
    /// through both phases (`OUTBOX_STORE_FAULTS`; seed and log are added); `off` for none.
    #[arg(long, default_value = "writes=0.05")]
    store_faults: String,
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
    /// The share of webhook calls the soak's receiver refuses with a 500.
    #[arg(long, default_value_t = 0.30)]
    webhook_refusals: f64,
    /// Where logs and the report go.
    #[arg(long, default_value = "target/soak")]
    out: PathBuf,
}

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

async fn run(options: Options) -> Result<bool, String> {
    let started = Instant::now();
    let root = workspace_root();
    let prefix = fresh_prefix("soak");
    let dir = root.join(&options.out).join(&prefix);
    std::fs::create_dir_all(&dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    let call_log = dir.join("provider-calls.log");
    let outage_file = dir.join("outage");
    let throttle_log = dir.join("store-throttles.log");
    let store_faults = (options.store_faults != "off")
        .then(|| format!("{},seed={},log={}", options.store_faults, options.seed, throttle_log.display()));
    let n = options.messages;
    let kills = options.kills.unwrap_or((n / 250).clamp(3, 12));
    let drain_timeout = Duration::from_secs(options.drain_timeout_secs.unwrap_or(120 + n as u64 / 10));
    let mut rng = fastrand::Rng::with_seed(options.seed);
    let chaos_faults = format!("{},seed={},call_log={}", options.faults, options.seed, call_log.display());
    println!(
        "soak: {n} messages, {kills} consumer kills, faults {chaos_faults}, store faults {}; logs in {}",
        store_faults.as_deref().unwrap_or("off"),
        dir.display()
    );

    let stack = start_stack(&dir, &prefix, &chaos_faults, store_faults.as_deref()).await?;
    let mut report = Report::default();
    let webhook_secret = format!("whsec_{prefix}");
    let receiver = webhooks::Receiver::start(&webhook_secret, options.webhook_refusals, options.seed).await?;
    receiver.subscribe(&stack, &webhook_secret).await?;

    // Phase 1: chaos. Sends and kills run together; the consumers are always running at the end.
    let pace = Pace::start(&stack.aws, &stack.config.queue_url, options.backlog);
    let plan = load::plan(n, &mut rng, &prefix);
    let monkey = ChaosMonkey::start(stack.consumers.clone(), &mut rng, kills, n);
    let load = load::send_all(&stack.http, &stack.base, plan, options.concurrency, &pace).await;
    println!(
        "soak: {} accepted in {:.1} s ({} duplicate-key retries, {} retried answers); draining",
        load.accepted.len(),
        load.elapsed.as_secs_f64(),
        load.duplicate_sends,
        load.retried
    );
    let accepted = load.accepted.clone();
    let drained = wait_drained(&stack, &accepted, drain_timeout, any_final, Some(monkey.stop_flag())).await;
    monkey.stop().await;
    // A kill just before the stop leaves the restarted consumers to settle what it interrupted.
    let drained = match drained {
        Ok(_) => wait_drained(&stack, &accepted, drain_timeout, any_final, None).await,
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
    drop(pace);
    report.violations.extend(outage_load.violations.iter().map(|v| format!("outage: {v}")));
    let outage_ids = outage_load.accepted.clone();
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
    if let Err(err) = wait_drained(&stack, &replayed_ids, drain_timeout, settled, None).await {
        report.violations.push(format!("replay: {err}"));
    }
    let all: Vec<String> = accepted.iter().chain(&outage_ids).cloned().collect();
    let end = inspect(&stack, &all, &call_log, kills_done * BATCH).await?;
    let recovered = replay::recovered(&end.records, &replayed_ids, &mut report.violations);
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
    let terminal: Vec<&MessageRecord> = all.iter().filter_map(|id| end.records.get(id)).collect();
    let (line, violations) = receiver.check(&terminal, drain_timeout).await;
    report.lines.push(line);
    report.violations.extend(violations);
    if store_faults.is_some() {
        let throttles = report::throttles(&throttle_log);
        if throttles.total == 0 {
            report
                .violations
                .push("store faults: no write was throttled, so none of their windows was exercised".into());
        }
        report.lines.push(throttles.line());
    }
    report.lines.push(format!("total time: {:.1} s", started.elapsed().as_secs_f64()));

    let text = report.render();
    println!("{text}");
    let _ = std::fs::write(dir.join("report.txt"), &text);
    let _ = std::fs::write(root.join(&options.out).join("latest-report.txt"), &text);
    lock(&stack.consumers).stop();
    Ok(report.violations.is_empty())
}
