//! The DLQ replay: `outbox-admin dlq replay --all` run as an operator runs it, and what the
//! replayed messages must end as.

use std::collections::HashMap;

use outbox::domain::message::{MessageRecord, Status};
use outbox::providers::sandbox::ALWAYS_TRANSIENT;
use outbox_bench::processes::ServiceSpec;

use crate::checks;

/// The counts of `dlq replay --all`'s summary line.
pub struct ReplayOutcome {
    pub replayed: usize,
    pub failed: usize,
}

/// `outbox-admin dlq replay --all`; its output goes to the spec's log, its summary line is read.
pub fn replay_all(admin: &ServiceSpec) -> Result<ReplayOutcome, String> {
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

/// How many of the `replayed` messages recovered to sent. The always-failing recipient's must
/// end failed and dead-lettered again; any other ending is a violation.
pub fn recovered(records: &HashMap<String, MessageRecord>, replayed: &[String], violations: &mut Vec<String>) -> usize {
    let mut recovered = 0;
    for queue_id in replayed {
        let Some(record) = records.get(queue_id) else { continue };
        let always_failing = record.chat_id.digits() == Some(ALWAYS_TRANSIENT);
        match (always_failing, record.status, record.dead_lettered_at.is_some()) {
            (false, status, _) if checks::is_sent(status) => recovered += 1,
            (true, Status::Failed, true) => {}
            (_, status, dead) => violations.push(format!(
                "replay: {queue_id} ({}) ended {} (dead-lettered: {dead}) after the replay",
                record.chat_id.as_str(),
                status.as_str()
            )),
        }
    }
    recovered
}
