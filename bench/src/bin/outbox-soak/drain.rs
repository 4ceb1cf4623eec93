//! Waiting for the stack to settle (bounded, polling the queues and the records' statuses), and
//! inspecting what it left: every record, the sandbox's call log, and the invariants they break.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use outbox::domain::message::{MessageRecord, Status};
use outbox_bench::records::{jobs_in, scan_messages, scan_statuses};

use crate::checks::{Analysis, analyse, parse_calls};
use crate::stack::Stack;

/// Statuses after which nothing more happens to a message.
const FINAL_STATUSES: [&str; 5] = ["sent", "delivered", "read", "failed", "cancelled"];

/// Any final status will do.
pub fn any_final(_status: &str, _dead_lettered: bool) -> bool {
    true
}

/// Failed and dead-lettered: where every message of the outage must end.
pub fn dead_lettered(status: &str, dead_lettered: bool) -> bool {
    status == "failed" && dead_lettered
}

/// Settled after a replay: sent, or (for the always-failing recipient) failed and dead-lettered again.
pub fn settled(status: &str, dead_lettered: bool) -> bool {
    status != "queued" && status != "sending" && (status != "failed" || dead_lettered)
}

/// Polls (one projected Scan and two queue depths per round) until every id in `ids` satisfies
/// `done(status, dead_lettered)` and both queues are empty, or `timeout` passes. With `chaos`,
/// sets that flag once settled, so that the chaos monkey starts no further kill.
pub async fn wait_drained(
    stack: &Stack,
    ids: &[String],
    timeout: Duration,
    done: impl Fn(&str, bool) -> bool,
    chaos: Option<&AtomicBool>,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
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
                Some((status, dead)) if FINAL_STATUSES.contains(&status.as_str()) && done(status, *dead) => None,
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

/// Every record by queue_id, and what they and the call log say about `accepted`.
pub struct Inspection {
    pub records: HashMap<String, MessageRecord>,
    pub analysis: Analysis,
    /// Call-log lines cut short by a kill.
    pub torn_lines: usize,
}

pub async fn inspect(
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
pub fn stray_records(records: &HashMap<String, MessageRecord>, accepted: &[String]) -> usize {
    let accepted: HashSet<&str> = accepted.iter().map(String::as_str).collect();
    records
        .values()
        .filter(|r| !accepted.contains(r.queue_id.as_str()))
        .filter(|r| !(r.status == Status::Failed && r.attempts == 0))
        .count()
}
