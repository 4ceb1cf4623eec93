//! The service's CloudWatch metrics, written as Embedded Metric Format lines on stdout: CloudWatch
//! Logs turns them into metrics in AWS (no request, no agent), and locally they sit in the log.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use crate::domain::time::Timestamp;

/// One metric: its name in CloudWatch and its unit (an EMF `MetricDefinition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: &'static str,
}

const fn count(name: &'static str) -> Metric {
    Metric { name, unit: "Count" }
}

const fn millis(name: &'static str) -> Metric {
    Metric { name, unit: "Milliseconds" }
}

// Every metric the service emits; adding one is one line here and one `emit` where it happens.
/// A message accepted by the API (a broadcast counts its messages).
pub const ACCEPTED: Metric = count("Accepted");
/// The provider accepted a message.
pub const SENT: Metric = count("Sent");
/// A message ended `failed`; the outcome says why (`permanent_error`, `transient_error`).
pub const FAILED: Metric = count("Failed");
/// An attempt failed transiently and will be retried.
pub const RETRIED: Metric = count("Retried");
/// The provider said "slow down": the job waits without using an attempt.
pub const SLOWED_DOWN: Metric = count("SlowedDown");
/// A finished message's attempts (one value per message that ended sent or failed).
pub const ATTEMPTS: Metric = count("Attempts");
/// How long one provider call took.
pub const PROVIDER_LATENCY: Metric = millis("ProviderLatency");
/// From acceptance (`queued_at`) to the provider accepting the message.
pub const END_TO_END: Metric = millis("EndToEnd");
/// A provider reported a message delivered to the recipient's device (a receipt).
pub const DELIVERED: Metric = count("Delivered");
/// A provider reported a message read by its recipient (a receipt).
pub const READ: Metric = count("Read");
/// A job arrived on the dead-letter queue (by the consumer's move or SQS's redrive alike).
pub const DEAD_LETTERED: Metric = count("DeadLettered");

/// A call to a webhook receiver; the outcome says how it ended (`delivered`, `failed`, `dropped`).
pub const WEBHOOK_CALLS: Metric = count("WebhookCalls");

/// The dimension keys. Only these two: an org or a chat would make a metric per customer.
pub const PROVIDER: &str = "Provider";
pub const OUTCOME: &str = "Outcome";

/// Where the lines go: stdout (Lambda's log, the local runner's terminal), or a buffer in tests.
#[derive(Clone)]
enum Sink {
    Stdout,
    Capture(Arc<Mutex<Vec<String>>>),
}

/// Writes metric lines under one namespace; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    namespace: Arc<str>,
    sink: Sink,
}

impl Metrics {
    /// Lines on stdout, as CloudWatch Logs reads them.
    pub fn stdout(namespace: &str) -> Metrics {
        Metrics { namespace: namespace.into(), sink: Sink::Stdout }
    }

    /// Lines kept in memory, for tests to read with `lines`.
    pub fn capture(namespace: &str) -> Metrics {
        Metrics { namespace: namespace.into(), sink: Sink::Capture(Arc::default()) }
    }

    /// The lines captured so far (none for stdout).
    pub fn lines(&self) -> Vec<String> {
        match &self.sink {
            Sink::Stdout => vec![],
            Sink::Capture(lines) => lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone(),
        }
    }

    /// One line with `values`, each metric both in total (no dimension) and by `provider` and
    /// `outcome` where given: the totals are what alarms read, the split what the dashboard shows.
    pub fn emit(&self, now: Timestamp, provider: Option<&str>, outcome: Option<&str>, values: &[(Metric, f64)]) {
        if values.is_empty() {
            return;
        }
        let line = line(&self.namespace, now, provider, outcome, values);
        match &self.sink {
            // One formatted write under stdout's lock, so concurrent records never interleave inside
            // a line; through `print!` so a test harness captures it like any other output.
            Sink::Stdout => println!("{line}"),
            Sink::Capture(lines) => lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(line),
        }
    }
}

/// The EMF document: `_aws` metadata with one metric directive, the dimension values and the
/// metric values as members of the root object, as the specification requires.
fn line(
    namespace: &str,
    now: Timestamp,
    provider: Option<&str>,
    outcome: Option<&str>,
    values: &[(Metric, f64)],
) -> String {
    let mut root = Map::new();
    let mut split = Vec::new();
    for (key, value) in [(PROVIDER, provider), (OUTCOME, outcome)] {
        if let Some(value) = value {
            split.push(key);
            root.insert(key.to_string(), Value::from(value));
        }
    }
    let dimensions = if split.is_empty() { json!([[]]) } else { json!([[], split]) };
    let definitions: Vec<Value> =
        values.iter().map(|(metric, _)| json!({"Name": metric.name, "Unit": metric.unit})).collect();
    for (metric, value) in values {
        root.insert(metric.name.to_string(), Value::from(*value));
    }
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": now.epoch_millis(),
            "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": dimensions, "Metrics": definitions}],
        }),
    );
    Value::Object(root).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Value {
        serde_json::from_str(line).expect("a metric line is one JSON object")
    }

    #[test]
    fn a_line_follows_the_emf_structure_with_totals_and_the_split() {
        let metrics = Metrics::capture("Outbox/test");
        let now = Timestamp::from_epoch_millis(1_700_000_000_123).unwrap();
        metrics.emit(now, Some("sandbox"), Some("sent"), &[(SENT, 1.0), (PROVIDER_LATENCY, 12.5)]);
        let lines = metrics.lines();
        assert_eq!(lines.len(), 1);
        assert!(!lines[0].contains('\n'));
        let doc = parse(&lines[0]);
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_123i64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Outbox/test");
        assert_eq!(directive["Dimensions"], json!([[], ["Provider", "Outcome"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Sent", "Unit": "Count"}, {"Name": "ProviderLatency", "Unit": "Milliseconds"}])
        );
        // Every dimension and metric the directive names is a member of the root (the spec's "target members").
        assert_eq!(doc["Provider"], "sandbox");
        assert_eq!(doc["Outcome"], "sent");
        assert_eq!(doc["Sent"], 1.0);
        assert_eq!(doc["ProviderLatency"], 12.5);
    }

    #[test]
    fn without_dimensions_there_is_only_the_total_and_no_values_means_no_line() {
        let metrics = Metrics::capture("Outbox");
        let now = Timestamp::from_epoch_millis(1_000).unwrap();
        metrics.emit(now, None, None, &[]);
        assert!(metrics.lines().is_empty());
        metrics.emit(now, None, Some("marked_failed"), &[(DEAD_LETTERED, 1.0)]);
        let doc = parse(&metrics.lines()[0]);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[], ["Outcome"]]));
        assert!(doc.get("Provider").is_none());
    }

    #[test]
    fn stdout_metrics_keep_no_lines() {
        let metrics = Metrics::stdout("Outbox");
        assert!(metrics.lines().is_empty());
    }
}
