//! The soak report: a few lines per phase and every violated invariant, printed and written to
//! the run's folder.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::checks::Analysis;

#[derive(Default)]
pub struct Report {
    pub lines: Vec<String>,
    pub violations: Vec<String>,
}

impl Report {
    /// A phase's outcome: what ended how, the provider calls and the failures.
    pub fn phase(&mut self, name: &str, analysis: &Analysis, elapsed: Duration) {
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

    pub fn render(&self) -> String {
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

/// The DynamoDB throttles the processes injected, from their shared log (one operation per line).
pub struct Throttles {
    pub total: usize,
    pub by_operation: BTreeMap<String, usize>,
}

impl Throttles {
    pub fn line(&self) -> String {
        let each: Vec<String> = self.by_operation.iter().map(|(op, n)| format!("{op} {n}")).collect();
        format!("DynamoDB writes throttled (injected): {} ({})", self.total, each.join(", "))
    }
}

/// Reads the throttle log; a missing log means no throttle was injected.
pub fn throttles(log: &Path) -> Throttles {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut by_operation = BTreeMap::new();
    for op in text.lines().filter(|line| !line.is_empty()) {
        *by_operation.entry(op.to_string()).or_default() += 1;
    }
    Throttles { total: by_operation.values().sum(), by_operation }
}
