//! Figure 7: what a million text messages cost on AWS, from the counted requests (figure 1), the
//! handler's CPU time (figure 3), the template's memory sizes and the list prices, against
//! the $3 goal and this design's floor on the same prices (`outbox_bench::cost::prices`); the cost
//! model (`cost` binary) prices the scenarios of issue 13 from the items themselves.

use serde::Serialize;

use outbox_bench::cost::prices::{
    API_GATEWAY_HTTP, DYNAMODB_READS, DYNAMODB_WRITES, LAMBDA_ARM64, LAMBDA_REQUESTS, Price, S3_PUT, SQS_STANDARD,
};

use crate::batch::PROVIDER_LATENCY;
use crate::handler_cpu::HandlerCpu;
use crate::harness::BATCH;
use crate::report::{Figure, Measurement};
use crate::requests::{RequestCounts, service_total};

/// The template's memory sizes (template.yaml: ApiFunction and DeliveryFunction, 256 MB).
const API_MEMORY_MB: f64 = 256.0;
const DELIVERY_MEMORY_MB: f64 = 256.0;

/// What one text message costs in requests and compute, per path.
#[derive(Debug, Clone, Serialize)]
struct Usage {
    /// API Gateway requests (1 per send).
    api_requests: f64,
    /// Lambda invocations: the API's plus the delivery's share of a batch.
    invocations: f64,
    /// Billed GB-seconds of all functions.
    gb_seconds: f64,
    sqs_requests: f64,
    dynamodb_wru: f64,
    dynamodb_rru: f64,
    s3_puts: f64,
}

/// One line of the cost table: the component, how it was computed, dollars per million messages.
#[derive(Debug, Clone, Serialize)]
struct Line {
    component: &'static str,
    arithmetic: String,
    usd_per_million: f64,
}

fn per_million(usage: &Usage) -> Vec<Line> {
    let line = |component: &'static str, units: f64, price: Price, what: &str| Line {
        component,
        arithmetic: format!("{units:.4} {what} × 1e6 × ${} / {}", price.usd, price.per),
        usd_per_million: units * 1e6 * price.usd / price.per,
    };
    vec![
        line("API Gateway", usage.api_requests, API_GATEWAY_HTTP, "requests"),
        line("Lambda requests", usage.invocations, LAMBDA_REQUESTS, "invocations"),
        line("Lambda duration", usage.gb_seconds, LAMBDA_ARM64, "GB-s"),
        line("SQS", usage.sqs_requests, SQS_STANDARD, "requests"),
        line("DynamoDB writes", usage.dynamodb_wru, DYNAMODB_WRITES, "WRU"),
        line("DynamoDB reads", usage.dynamodb_rru, DYNAMODB_READS, "RRU"),
        line("S3", usage.s3_puts, S3_PUT, "PUTs"),
    ]
}

/// Lambda bills whole milliseconds.
fn billed_gb_seconds(memory_mb: f64, duration_ms: f64) -> f64 {
    memory_mb / 1024.0 * duration_ms.max(1.0).ceil() / 1000.0
}

#[derive(Debug, Serialize)]
pub struct CostModel {
    usage: Usage,
    lines: Vec<Line>,
    total_usd_per_million: f64,
    /// The design's floor on the same prices (see `model`).
    floor_usd_per_million: f64,
    assumptions: Vec<String>,
}

impl CostModel {
    /// The table's last section: each component's arithmetic, the total, the assumptions.
    pub fn breakdown(&self) -> String {
        let mut text = String::from("\ncost per million text messages (figure 7):\n");
        for line in &self.lines {
            text.push_str(&format!("  {:<16} {:<44} ${:.4}\n", line.component, line.arithmetic, line.usd_per_million));
        }
        text.push_str(&format!("  {:<16} {:<44} ${:.4}\n", "total", "", self.total_usd_per_million));
        for assumption in &self.assumptions {
            text.push_str(&format!("  - {assumption}\n"));
        }
        text
    }
}

impl Measurement for CostModel {
    const TITLE: &'static str = "cost per million text messages";
    const KEY: &'static str = "7_cost";

    fn figures(&self) -> Vec<Figure> {
        vec![
            Figure::new("7", "cost per million text messages on AWS (arm64)", self.total_usd_per_million, "USD")
                .goal("≤ $3", self.total_usd_per_million, 3.0)
                .note(format!(
                    "this design's floor on these prices ${:.2} (3 WRU, no indexes, limiter off); largest now: {}",
                    self.floor_usd_per_million,
                    self.lines
                        .iter()
                        .filter(|l| l.usd_per_million >= 0.01)
                        .map(|l| format!("{} ${:.2}", l.component, l.usd_per_million))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
        ]
    }
}

/// The cost of one text message with the limiter on, from figures 1 and 3, and the assumptions it rests on.
pub fn model(requests: &RequestCounts, cpu: &HandlerCpu) -> CostModel {
    let send = &requests.send_limiter_on;
    let delivery = &requests.delivery;
    let batches_per_message = 1.0 / BATCH as f64;
    // Duration from figure 3: the handler's CPU time, billed in whole milliseconds (at least 1).
    let api_gb_s = billed_gb_seconds(API_MEMORY_MB, cpu.text_us / 1e3);
    // A delivery invocation waits for its provider calls (figure 4's 200 ms, concurrently), plus
    // ten handlers' CPU (assumed no more than the send handler's each).
    let delivery_ms = PROVIDER_LATENCY.as_secs_f64() * 1e3 + BATCH as f64 * cpu.text_us / 1e3;
    let delivery_gb_s = billed_gb_seconds(DELIVERY_MEMORY_MB, delivery_ms) * batches_per_message;
    // `+ 0.0`: an empty float sum is -0.0.
    let reads = service_total(send, "DynamoDB GetItem") + service_total(send, "DynamoDB Query") + 0.0;
    let usage = Usage {
        api_requests: 1.0,
        invocations: 1.0 + batches_per_message,
        gb_seconds: api_gb_s + delivery_gb_s,
        sqs_requests: service_total(send, "SQS") + service_total(delivery, "SQS"),
        dynamodb_wru: requests.wru_send + requests.wru_rate_counter + requests.wru_delivery,
        dynamodb_rru: reads,
        s3_puts: 0.0,
    };
    let lines = per_million(&usage);
    let total_usd_per_million = lines.iter().map(|l| l.usd_per_million).sum();
    // The same prices at this design's floor: limiter off, 2 send and 2.2 delivery requests, and
    // 3 WRU (the put and the two transitions, on a table with no global index).
    let floor = Usage { sqs_requests: 1.0 + 2.0 / BATCH as f64, dynamodb_wru: 3.0, dynamodb_rru: 0.0, ..usage.clone() };
    let floor_usd_per_million = per_million(&floor).iter().map(|l| l.usd_per_million).sum();
    let assumptions = vec![
        "the rate limiter on (the default): the counter's UpdateItem is 1 WRU".into(),
        format!(
            "DynamoDB WRU from the stored items: a {} B queued item and a {} B sent item, 1 WRU per KB for the table and for each of the {} global indexes (projection ALL) the item is in; the put {:.0}, the two delivery writes {:.0}",
            requests.item_bytes_queued,
            requests.item_bytes_sent,
            outbox::adapters::dynamodb::indexes::ALL.len(),
            requests.wru_send,
            requests.wru_delivery
        ),
        format!("API Lambda: {API_MEMORY_MB} MB, {:.1} µs CPU (figure 3) billed as 1 ms; AWS round trips not billed here (in-region they add ~10-20 ms: +$0.04-0.07 per million)", cpu.text_us),
        format!("delivery Lambda: {DELIVERY_MEMORY_MB} MB, full batches of {BATCH}, {delivery_ms:.0} ms each (the 200 ms provider of figure 4)"),
        "not counted: CloudWatch Logs ingestion ($0.50/GB), data transfer out, KMS, the dead-letter function (idle for successful messages), SQS long polls of idle queues".into(),
    ];
    CostModel { usage, lines, total_usd_per_million, floor_usd_per_million, assumptions }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arithmetic_multiplies_units_by_the_unit_price() {
        let usage = Usage {
            api_requests: 1.0,
            invocations: 1.1,
            gb_seconds: billed_gb_seconds(256.0, 0.2),
            sqs_requests: 1.2,
            dynamodb_wru: 6.0,
            dynamodb_rru: 0.0,
            s3_puts: 0.0,
        };
        let lines = per_million(&usage);
        let cost = |name: &str| lines.iter().find(|l| l.component == name).unwrap().usd_per_million;
        assert!((cost("API Gateway") - 1.0).abs() < 1e-9);
        assert!((cost("SQS") - 0.48).abs() < 1e-9);
        assert!((cost("DynamoDB writes") - 3.75).abs() < 1e-9);
        // 0.25 GB × 1 ms (billed minimum) × $0.0000133334 per GB-s × 1e6
        assert!((cost("Lambda duration") - 0.25 * 0.001 * 13.3334).abs() < 1e-9);
    }
}
