//! The soak's invariants, checked on the records as stored and the sandbox's call log.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use outbox::domain::message::{AttemptOutcome, MessageRecord, Status};

/// One provider call, as the sandbox logged it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub queue_id: String,
    pub attempt: u32,
    pub outcome: String,
}

/// Parses `queue_id attempt outcome` lines; returns the calls and the count of unreadable lines.
pub fn parse_calls(log: &str) -> (Vec<Call>, usize) {
    let mut bad = 0;
    let calls = log
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let call = match (parts.next(), parts.next().and_then(|a| a.parse().ok()), parts.next(), parts.next()) {
                (Some(queue_id), Some(attempt), Some(outcome), None) => {
                    Some(Call { queue_id: queue_id.to_string(), attempt, outcome: outcome.to_string() })
                }
                _ => None,
            };
            bad += usize::from(call.is_none());
            call
        })
        .collect();
    (calls, bad)
}

/// What the records and calls say, and every invariant they break.
#[derive(Debug, Default)]
pub struct Analysis {
    pub accepted: usize,
    pub by_status: BTreeMap<&'static str, usize>,
    /// Accepted but missing or not terminal.
    pub lost: Vec<String>,
    pub provider_calls: usize,
    /// Extra successful provider calls: a kill between the call and its status write.
    pub duplicates: usize,
    /// Messages recorded `failed` although one of their calls succeeded (same kill window).
    pub sent_but_failed: usize,
    /// Failed calls whose outcome was never written (killed after the call).
    pub unrecorded_failures: usize,
    pub failed_transient: usize,
    pub failed_permanent: usize,
    pub dead_lettered: usize,
    pub violations: Vec<String>,
}

/// Sent, delivered and read: the provider took the message.
pub fn is_sent(status: Status) -> bool {
    matches!(status, Status::Sent | Status::Delivered | Status::Read)
}

/// A failed message's failure was transient (retries ran out, or its worker died) rather than permanent.
pub fn failed_transiently(record: &MessageRecord) -> bool {
    record.status == Status::Failed
        && record.attempt_log.last().is_none_or(|entry| entry.outcome != Some(AttemptOutcome::PermanentError))
}

/// Checks every accepted message. `max_duplicates` bounds the kill-window duplicates.
pub fn analyse(
    accepted: &[String],
    records: &HashMap<String, MessageRecord>,
    calls: &[Call],
    max_duplicates: usize,
) -> Analysis {
    let mut analysis = Analysis { accepted: accepted.len(), provider_calls: calls.len(), ..Analysis::default() };
    let mut calls_of: HashMap<&str, Vec<&Call>> = HashMap::new();
    for call in calls {
        calls_of.entry(call.queue_id.as_str()).or_default().push(call);
    }
    let mut dead_lettered = BTreeSet::new();
    let mut transient_failures = BTreeSet::new();
    for queue_id in accepted {
        let Some(record) = records.get(queue_id) else {
            analysis.lost.push(format!("{queue_id}: no record"));
            continue;
        };
        *analysis.by_status.entry(record.status.as_str()).or_default() += 1;
        if !record.status.is_final() {
            analysis.lost.push(format!(
                "{queue_id}: still {} after {} attempts",
                record.status.as_str(),
                record.attempts
            ));
            continue;
        }
        if record.status == Status::Failed {
            if record.status_description.as_deref().is_none_or(|reason| reason.trim().is_empty()) {
                analysis.violations.push(format!("{queue_id}: failed without a reason"));
            }
            if failed_transiently(record) {
                transient_failures.insert(queue_id.as_str());
            } else {
                analysis.failed_permanent += 1;
            }
        }
        if record.dead_lettered_at.is_some() {
            dead_lettered.insert(queue_id.as_str());
        }
        check_calls(&mut analysis, record, calls_of.get(queue_id.as_str()).map(Vec::as_slice).unwrap_or_default());
    }
    analysis.failed_transient = transient_failures.len();
    analysis.dead_lettered = dead_lettered.len();
    for queue_id in transient_failures.difference(&dead_lettered) {
        analysis.violations.push(format!("{queue_id}: failed transiently but not dead-lettered"));
    }
    for queue_id in dead_lettered.difference(&transient_failures) {
        let status = records.get(*queue_id).map(|r| r.status.as_str()).unwrap_or("missing");
        analysis.violations.push(format!("{queue_id}: dead-lettered but {status}, not a transient failure"));
    }
    if !analysis.lost.is_empty() {
        analysis.violations.push(format!("{} accepted messages lost or not terminal", analysis.lost.len()));
    }
    let window = analysis.duplicates + analysis.sent_but_failed;
    if window > max_duplicates {
        analysis.violations.push(format!("{window} kill-window duplicates, more than the bound of {max_duplicates}"));
    }
    analysis
}

/// One message's provider calls against its attempt log: at most one call per attempt, every
/// success recorded as `sent` unless its worker died first, and exactly one recorded success per sent message.
fn check_calls(analysis: &mut Analysis, record: &MessageRecord, calls: &[&Call]) {
    let queue_id = &record.queue_id;
    let mut attempts_called = BTreeSet::new();
    let mut recorded_sent = 0;
    let mut unrecorded_sent = 0;
    for call in calls {
        if !attempts_called.insert(call.attempt) {
            analysis.violations.push(format!("{queue_id}: the provider was called twice in attempt {}", call.attempt));
        }
        let Some(entry) = call.attempt.checked_sub(1).and_then(|i| record.attempt_log.get(i as usize)) else {
            analysis.violations.push(format!(
                "{queue_id}: a provider call in attempt {} but the record has {} attempts",
                call.attempt, record.attempts
            ));
            continue;
        };
        let expected = match call.outcome.as_str() {
            "sent" => AttemptOutcome::Sent,
            "transient" => AttemptOutcome::TransientError,
            _ => AttemptOutcome::PermanentError,
        };
        match entry.outcome {
            Some(outcome) if outcome == expected => recorded_sent += usize::from(expected == AttemptOutcome::Sent),
            // A takeover records a killed worker's attempt as interrupted: its outcome was never known.
            None | Some(AttemptOutcome::Interrupted) if expected == AttemptOutcome::Sent => unrecorded_sent += 1,
            None | Some(AttemptOutcome::Interrupted) => analysis.unrecorded_failures += 1,
            Some(outcome) => analysis.violations.push(format!(
                "{queue_id}: attempt {} called the provider with outcome {} but recorded {outcome:?}",
                call.attempt, call.outcome
            )),
        }
    }
    let recorded_without_call = record
        .attempt_log
        .iter()
        .enumerate()
        .filter(|(i, entry)| {
            let known = entry.outcome.is_some_and(|outcome| outcome != AttemptOutcome::Interrupted);
            known && !attempts_called.contains(&(*i as u32 + 1))
        })
        .count();
    // The dead-letter consumer records no attempt outcome, so every known outcome had a provider call
    // (an interrupted one is a killed worker's, which may have died before or after its call).
    if recorded_without_call > 0 {
        analysis
            .violations
            .push(format!("{queue_id}: {recorded_without_call} attempt outcomes without a provider call"));
    }
    if is_sent(record.status) {
        if recorded_sent != 1 {
            analysis
                .violations
                .push(format!("{queue_id}: {} but {recorded_sent} recorded sends", record.status.as_str()));
        }
        analysis.duplicates += unrecorded_sent;
    } else if recorded_sent + unrecorded_sent > 0 {
        if recorded_sent > 0 {
            analysis
                .violations
                .push(format!("{queue_id}: {} but an attempt was recorded sent", record.status.as_str()));
        }
        analysis.sent_but_failed += unrecorded_sent;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Records store RFC 3339 times; which one does not matter here.
    const AT: &str = "2026-01-01T00:00:00.000Z";

    fn record(status: &str, outcomes: &[Option<&str>], dead: bool, reason: Option<&str>) -> MessageRecord {
        let log: Vec<_> = outcomes
            .iter()
            .map(|o| match o {
                Some(o) => json!({"attempt": 0, "started_at": AT, "outcome": o}),
                None => json!({"attempt": 0, "started_at": AT}),
            })
            .collect();
        let mut value = json!({
            "org_id": "o", "queue_id": "q", "unique_id": "u", "phone_id": "p", "provider": "sandbox",
            "chat_id": "919000000000@c.us", "status": status, "attempts": outcomes.len(), "attempt_log": log,
            "timeline": {"queued_at": AT}, "expires_at": 0
        });
        if dead {
            value["dead_lettered_at"] = json!(AT);
        }
        if let Some(reason) = reason {
            value["status_description"] = json!(reason);
        }
        serde_json::from_value(value).unwrap()
    }

    fn calls(list: &[(u32, &str)]) -> Vec<Call> {
        list.iter().map(|(a, o)| Call { queue_id: "q".into(), attempt: *a, outcome: o.to_string() }).collect()
    }

    fn run(record: MessageRecord, calls: &[Call], bound: usize) -> Analysis {
        let records = HashMap::from([("q".to_string(), record)]);
        analyse(&["q".to_string()], &records, calls, bound)
    }

    #[test]
    fn a_clean_history_passes_and_a_kill_window_duplicate_is_counted_within_its_bound() {
        let clean = run(
            record("sent", &[Some("transient_error"), Some("sent")], false, None),
            &calls(&[(1, "transient"), (2, "sent")]),
            0,
        );
        assert!(clean.violations.is_empty(), "{:?}", clean.violations);
        let killed = record("sent", &[None, Some("sent")], false, None);
        let twice = calls(&[(1, "sent"), (2, "sent")]);
        assert_eq!(run(killed.clone(), &twice, 1).duplicates, 1);
        assert!(run(killed.clone(), &twice, 1).violations.is_empty());
        assert!(!run(killed, &twice, 0).violations.is_empty(), "over the bound");
    }

    #[test]
    fn lies_losses_and_dead_letter_mismatches_are_violations() {
        let lie = run(record("sent", &[Some("transient_error")], false, None), &calls(&[(1, "sent")]), 10);
        assert!(lie.violations.iter().any(|v| v.contains("recorded")), "{:?}", lie.violations);
        let no_call = run(record("sent", &[Some("sent")], false, None), &[], 10);
        assert!(!no_call.violations.is_empty());
        let lost = run(record("queued", &[], false, None), &[], 10);
        assert_eq!(lost.lost.len(), 1);
        let undead = run(
            record("failed", &[Some("transient_error"); 3], false, Some("failed after 3 attempts")),
            &calls(&[(1, "transient"), (2, "transient"), (3, "transient")]),
            10,
        );
        assert!(undead.violations.iter().any(|v| v.contains("not dead-lettered")), "{:?}", undead.violations);
        let permanent_dead =
            run(record("failed", &[Some("permanent_error")], true, Some("no")), &calls(&[(1, "permanent")]), 10);
        assert!(
            permanent_dead.violations.iter().any(|v| v.contains("not a transient")),
            "{:?}",
            permanent_dead.violations
        );
        let no_reason = run(record("failed", &[Some("permanent_error")], false, None), &calls(&[(1, "permanent")]), 10);
        assert!(no_reason.violations.iter().any(|v| v.contains("reason")));
        let crashed = run(record("failed", &[None, None, None], true, Some("crashed")), &calls(&[(3, "sent")]), 10);
        assert_eq!((crashed.sent_but_failed, crashed.failed_transient, crashed.dead_lettered), (1, 1, 1));
        assert!(crashed.violations.is_empty(), "{:?}", crashed.violations);
    }

    #[test]
    fn call_log_lines_parse_and_torn_lines_are_counted() {
        let (calls, bad) = parse_calls("q 1 sent\nq 2\nq x sent\nr 3 transient\n");
        assert_eq!(calls.len(), 2);
        assert_eq!(bad, 2);
    }
}
