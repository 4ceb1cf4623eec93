//! The cost model (`cargo run -p outbox-bench --bin cost`, and the end of `make bench`): what a
//! text message, a 1 MB image and a broadcast of 1,000 chats cost on AWS, on demand and with
//! provisioned capacity at 70% target utilisation, and the floor this design could reach. The
//! DynamoDB write units come from the real items (`scenarios`) and the indexes template.yaml
//! declares (`template`), by DynamoDB's rules (`units`); the prices are `prices`; the durations
//! are `make bench`'s measurements where bench/results.json has them. Runs without AWS in a second.

pub mod prices;
pub mod scenarios;
pub mod template;
pub mod units;

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use outbox::domain::limits::MAX_SCHEDULE_AHEAD_DAYS;
use prices::{Price, provisioned_write_unit};
use scenarios::{MessageItems, Scenario};
use template::{IndexSpec, parameter_default, resource_number, table_indexes};
use units::{WriteUnits, stored_bytes, write_units};

use crate::records::item_size;

/// Provisioned capacity is priced at this share of what auto scaling provisions (template.yaml's TargetValue).
pub const TARGET_UTILISATION: f64 = 0.70;
/// Chats in the broadcast scenario (the API's most).
pub const BROADCAST_CHATS: usize = 1000;
/// Days in the average month storage is billed by (730 hours).
const DAYS_PER_MONTH: f64 = 730.0 / 24.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
/// An in-region AWS request awaited by a function (DynamoDB, SQS), assumed: not measured here.
const ROUND_TRIP_MS: f64 = 10.0;
/// A 1 MB PutObject in region, assumed.
const S3_PUT_MS: f64 = 30.0;
/// HTTP API bills a request per 512 KB of its payload.
const API_GATEWAY_CHUNK: usize = 512 * 1024;
/// Concurrency of the broadcast's writes (shared/src/adapters: sqs CONCURRENT_BATCHES, tracking CONCURRENT_PUTS).
const BROADCAST_QUEUE_CONCURRENCY: f64 = 8.0;
const BROADCAST_PUT_CONCURRENCY: f64 = 16.0;

/// What the model takes from template.yaml, bench/results.json and the command line.
#[derive(Debug, Clone, Serialize)]
pub struct Inputs {
    #[serde(skip)]
    pub indexes: Vec<IndexSpec>,
    pub index_names: Vec<String>,
    pub api_memory_mb: f64,
    pub delivery_memory_mb: f64,
    pub stream_memory_mb: f64,
    pub batch_size: f64,
    pub window_secs: f64,
    pub retention_days: f64,
    pub media_days: f64,
    /// The send handler's CPU per text and per 1 MB image, µs, and a delivery batch's wall time
    /// against a 200 ms provider, ms; `measured` says whether they came from bench/results.json.
    pub text_cpu_us: f64,
    pub image_cpu_us: f64,
    pub delivery_batch_ms: f64,
    pub measured: bool,
    /// Messages a second per phone: the status stream's counter writes are shared by a window's.
    pub phone_rate: f64,
    /// The rate limiter's counter writes per request: one per block of tokens an instance takes
    /// (`rate_token_block` of RateLimitPerMinute's default); 0 when the default is "off".
    pub limiter: f64,
}

impl Inputs {
    /// From the template text, the last `make bench` results (if any) and the phone rate.
    pub fn read(template: &str, results: Option<&Value>, phone_rate: f64) -> Result<Inputs, String> {
        let indexes = table_indexes(template)?;
        let retention = parameter_default(template, "RetentionDays")?;
        let retention_days: f64 = retention
            .parse()
            .map_err(|_| format!("template.yaml: RetentionDays' Default {retention:?} is not a number"))?;
        let figure = |path: &[&str]| {
            let mut value = results?;
            for key in path {
                value = value.get(*key)?;
            }
            Some(value.clone())
        };
        let text_cpu = figure(&["details", "3_handler_cpu", "text_us"]).and_then(|v| v.as_f64());
        let image_cpu = figure(&["details", "3_handler_cpu", "image_1mb_us"]).and_then(|v| v.as_f64());
        let batches: Option<Vec<f64>> = figure(&["details", "4_batch", "memory_batches_ms"])
            .and_then(|v| v.as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()));
        let batch_ms = batches.filter(|b| !b.is_empty()).map(|b| crate::median(&b));
        let measured = text_cpu.is_some() && image_cpu.is_some() && batch_ms.is_some();
        Ok(Inputs {
            index_names: indexes.iter().map(|index| index.name.clone()).collect(),
            indexes,
            api_memory_mb: resource_number(template, "ApiFunction", "MemorySize")?,
            delivery_memory_mb: resource_number(template, "DeliveryFunction", "MemorySize")?,
            stream_memory_mb: resource_number(template, "StatusStreamFunction", "MemorySize")?,
            batch_size: resource_number(template, "DeliveryFunction", "BatchSize")?,
            window_secs: resource_number(template, "StatusStreamFunction", "TumblingWindowInSeconds")?,
            retention_days,
            // The media lifecycle: RetentionDays + the schedule horizon (template.yaml's MediaExpiry).
            media_days: retention_days + MAX_SCHEDULE_AHEAD_DAYS as f64,
            // Assumed without results: `make bench`'s last figures on this design (README, "Figures").
            text_cpu_us: text_cpu.unwrap_or(17.0),
            image_cpu_us: image_cpu.unwrap_or(8900.0),
            delivery_batch_ms: batch_ms.unwrap_or(202.0),
            measured,
            phone_rate,
            limiter: match parameter_default(template, "RateLimitPerMinute")?.as_str() {
                "off" => 0.0,
                limit => {
                    let limit: u32 = limit.parse().map_err(|_| format!("RateLimitPerMinute's Default {limit:?}"))?;
                    1.0 / f64::from(outbox::api::rate_token_block(limit))
                }
            },
        })
    }
}

/// What one unit of a scenario (a message, or a whole broadcast) uses.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Usage {
    pub api_requests: f64,
    pub invocations: f64,
    pub gb_seconds: f64,
    pub sqs_requests: f64,
    pub write_units: f64,
    /// Strongly consistent reads of up to 4 KB (the phone's purge marker, once per delivery batch).
    pub read_units: f64,
    pub dynamodb_gb_months: f64,
    pub s3_puts: f64,
    pub s3_gets: f64,
    pub s3_gb_months: f64,
    pub transfer_out_gb: f64,
}

/// One line of a cost table: dollars on demand and with provisioned capacity.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub component: &'static str,
    pub arithmetic: String,
    pub on_demand: f64,
    pub provisioned: f64,
}

/// A scenario's cost per `per` units of it, line by line.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub name: String,
    pub per: &'static str,
    pub units: f64,
    pub usage: Usage,
    pub lines: Vec<Line>,
    /// The writes of one message, itemised (create, begin, finish).
    pub writes: Vec<(String, String)>,
}

impl Cost {
    pub fn total(&self, provisioned: bool) -> f64 {
        self.lines.iter().map(|l| if provisioned { l.provisioned } else { l.on_demand }).sum()
    }

    /// The total without storage: what the per-message goals were set on.
    pub fn requests_and_compute(&self, provisioned: bool) -> f64 {
        let lines = self.lines.iter().filter(|l| !l.component.contains("storage"));
        lines.map(|l| if provisioned { l.provisioned } else { l.on_demand }).sum()
    }
}

fn lines(usage: &Usage, units: f64) -> Vec<Line> {
    let line = |component: &'static str, amount: f64, price: Price, what: &str| {
        let dollars = price.of(amount * units);
        Line {
            component,
            arithmetic: format!("{} {what} × {units:.0} × ${} / {}", amount_text(amount), price.usd, price.per),
            on_demand: dollars,
            provisioned: dollars,
        }
    };
    let mut writes = line("DynamoDB writes", usage.write_units, prices::DYNAMODB_WRITES, "WRU");
    writes.provisioned = usage.write_units * units * provisioned_write_unit(TARGET_UTILISATION);
    writes.arithmetic.push_str(&format!(
        " | provisioned: × ${}/WCU-h ÷ 3,600 ÷ {TARGET_UTILISATION}",
        prices::DYNAMODB_WCU_HOUR.usd
    ));
    let mut reads = line("DynamoDB reads", usage.read_units, prices::DYNAMODB_READS, "RRU");
    reads.provisioned = usage.read_units * units * prices::provisioned_read_unit(TARGET_UTILISATION);
    reads.arithmetic.push_str(&format!(
        " | provisioned: × ${}/RCU-h ÷ 3,600 ÷ {TARGET_UTILISATION}",
        prices::DYNAMODB_RCU_HOUR.usd
    ));
    vec![
        line("API Gateway", usage.api_requests, prices::API_GATEWAY_HTTP, "requests"),
        line("Lambda requests", usage.invocations, prices::LAMBDA_REQUESTS, "invocations"),
        line("Lambda duration", usage.gb_seconds, prices::LAMBDA_ARM64, "GB-s"),
        line("SQS", usage.sqs_requests, prices::SQS_STANDARD, "requests"),
        writes,
        reads,
        line("DynamoDB storage", usage.dynamodb_gb_months, prices::DYNAMODB_STORAGE, "GB-months"),
        line("S3 PUT", usage.s3_puts, prices::S3_PUT, "PUTs"),
        line("S3 GET", usage.s3_gets, prices::S3_GET, "GETs"),
        line("S3 storage", usage.s3_gb_months, prices::S3_STORAGE, "GB-months"),
        line("S3 transfer out", usage.transfer_out_gb, prices::DATA_TRANSFER_OUT, "GB"),
    ]
    .into_iter()
    .filter(|line| line.on_demand > 0.0)
    .collect()
}

/// A per-unit amount readable at any size: four decimals, or three significant digits when tiny.
fn amount_text(amount: f64) -> String {
    if amount == 0.0 || amount.abs() >= 0.01 { format!("{amount:.4}") } else { format!("{amount:.3e}") }
}

/// Dollars: cents and below to four decimals, fractions of a cent to six.
fn dollars(usd: f64) -> String {
    if usd.abs() >= 0.01 { format!("${usd:.4}") } else { format!("${usd:.6}") }
}

/// Lambda bills whole milliseconds.
fn gb_seconds(memory_mb: f64, ms: f64) -> f64 {
    memory_mb / 1024.0 * ms.max(1.0).ceil() / 1000.0
}

/// The three writes of one delivered message, by DynamoDB's rules over the template's indexes.
pub fn message_writes(items: &MessageItems, indexes: &[IndexSpec]) -> [(&'static str, WriteUnits); 3] {
    [
        ("create (PutItem)", write_units(None, Some(&items.created), indexes)),
        ("begin_attempt (UpdateItem)", write_units(Some(&items.created), Some(&items.begun), indexes)),
        ("finish_attempt (UpdateItem)", write_units(Some(&items.begun), Some(&items.finished), indexes)),
    ]
}

fn describe(name: &str, units: &WriteUnits) -> String {
    let indexes: Vec<String> = units.indexes.iter().map(|(index, u)| format!("{index} {u}")).collect();
    let indexes = if indexes.is_empty() { "no index".to_string() } else { indexes.join(", ") };
    format!("{name}: table {}, {indexes} = {} WRU", units.table, units.total())
}

/// The status stream's share per message when `messages` go through one phone's counter item at
/// the phone's rate: one counter UpdateItem (1 WRU, the item is under 1 KB) per counter item and
/// window, two invocations per window (a batch and the window's final call) of one round trip each.
fn stream_share(inputs: &Inputs, messages: f64, counter_items: f64) -> (f64, f64, f64) {
    let windows = (messages / (inputs.phone_rate * inputs.window_secs)).ceil().max(1.0);
    let wru = windows * counter_items / messages;
    let invocations = 2.0 * windows / messages;
    let gb_s = invocations * gb_seconds(inputs.stream_memory_mb, ROUND_TRIP_MS * counter_items + 5.0);
    (wru, invocations, gb_s)
}

/// A delivery batch's wall time: the measured batch against a 200 ms provider (memory ports), plus
/// the store's three awaited round trips: every job's `begin_attempt`, the batch's one read of the
/// phone's purge marker once they have all begun, every job's `finish_attempt`.
fn delivery_batch_ms(inputs: &Inputs) -> f64 {
    inputs.delivery_batch_ms + 3.0 * ROUND_TRIP_MS
}

/// Delivery invocations for `messages` of one phone, `BatchSize` at a time; each reads the
/// phone's purge marker once (`deliver::purge_markers`).
fn batches_delivered(inputs: &Inputs, messages: f64) -> f64 {
    messages / inputs.batch_size
}

/// The API function's billed GB-s for one send: its CPU, then the limiter's UpdateItem, SendMessage
/// and PutItem awaited in turn (and the media's PutObject before them).
fn api_gb_seconds(inputs: &Inputs, cpu_us: f64, limiter: f64, media: bool) -> f64 {
    let requests = 2.0 + limiter;
    let ms = cpu_us / 1e3 + ROUND_TRIP_MS * requests + if media { S3_PUT_MS } else { 0.0 };
    gb_seconds(inputs.api_memory_mb, ms)
}

/// One message sent through `POST /v1/message/send` (text or inline media) and delivered.
fn single(inputs: &Inputs, name: &str, scenario: &Scenario, cpu_us: f64, media: bool) -> Cost {
    let writes = message_writes(&scenario.message, &inputs.indexes);
    let limiter_wru = inputs.limiter;
    let (stream_wru, stream_calls, stream_gb_s) = stream_share(inputs, 1.0e6, 1.0);
    let delivery_ms = delivery_batch_ms(inputs);
    let media_gb = scenario.media_bytes as f64 / GIB;
    let usage = Usage {
        api_requests: scenario.request_bytes.div_ceil(API_GATEWAY_CHUNK) as f64,
        invocations: 1.0 + batches_delivered(inputs, 1.0) + stream_calls,
        gb_seconds: api_gb_seconds(inputs, cpu_us, inputs.limiter, media)
            + gb_seconds(inputs.delivery_memory_mb, delivery_ms) / inputs.batch_size
            + stream_gb_s,
        sqs_requests: 1.0 + 2.0 / inputs.batch_size,
        write_units: writes.iter().map(|(_, w)| w.total() as f64).sum::<f64>() + limiter_wru + stream_wru,
        read_units: batches_delivered(inputs, 1.0),
        dynamodb_gb_months: stored_bytes(&scenario.message.finished, &inputs.indexes) as f64 / GIB
            * inputs.retention_days
            / DAYS_PER_MONTH,
        s3_puts: if media { 1.0 } else { 0.0 },
        s3_gets: if media { 1.0 } else { 0.0 },
        s3_gb_months: media_gb * inputs.media_days / DAYS_PER_MONTH,
        transfer_out_gb: media_gb,
    };
    let mut itemised: Vec<(String, String)> =
        writes.iter().map(|(step, units)| (step.to_string(), describe(step, units))).collect();
    itemised.push(("sizes".into(), item_sizes(&scenario.message)));
    Cost {
        name: name.into(),
        per: "per million messages",
        units: 1e6,
        lines: lines(&usage, 1e6),
        usage,
        writes: itemised,
    }
}

fn item_sizes(items: &MessageItems) -> String {
    format!(
        "item sizes: created {} B, begun {} B, finished {} B",
        item_size(&items.created),
        item_size(&items.begun),
        item_size(&items.finished)
    )
}

/// A broadcast of `scenario.messages` chats: one request, its summary written twice, every
/// message created, begun and finished, jobs queued and deleted ten at a time.
fn broadcast(inputs: &Inputs, scenario: &Scenario) -> Cost {
    let n = scenario.messages as f64;
    let writes = message_writes(&scenario.message, &inputs.indexes);
    let per_message: f64 = writes.iter().map(|(_, w)| w.total() as f64).sum();
    let summary =
        scenario.broadcast_summary.as_ref().map_or(0.0, |item| 2.0 * units::units_for(item_size(item)) as f64);
    // The phone's counter item and the broadcast's, for as many windows as the phone needs to send them.
    let (stream_wru, stream_calls, stream_gb_s) = stream_share(inputs, n, 2.0);
    let batches = (n / 10.0).ceil();
    // The limiter, two summary puts, then the job batches and the record puts at their concurrency.
    let api_rounds = 3.0 + (batches / BROADCAST_QUEUE_CONCURRENCY).ceil() + (n / BROADCAST_PUT_CONCURRENCY).ceil();
    let api_ms = inputs.text_cpu_us * n / 1e3 + ROUND_TRIP_MS * api_rounds;
    let delivery_ms = delivery_batch_ms(inputs);
    let usage = Usage {
        api_requests: scenario.request_bytes.div_ceil(API_GATEWAY_CHUNK) as f64,
        invocations: 1.0 + batches_delivered(inputs, n) + stream_calls * n,
        gb_seconds: gb_seconds(inputs.api_memory_mb, api_ms)
            + batches_delivered(inputs, n) * gb_seconds(inputs.delivery_memory_mb, delivery_ms)
            + stream_gb_s * n,
        sqs_requests: batches + 2.0 * n / inputs.batch_size,
        write_units: n * per_message + summary + inputs.limiter + stream_wru * n,
        read_units: batches_delivered(inputs, n),
        dynamodb_gb_months: (n * stored_bytes(&scenario.message.finished, &inputs.indexes) as f64
            + scenario.broadcast_summary.as_ref().map_or(0.0, |item| (item_size(item) + 100) as f64))
            / GIB
            * inputs.retention_days
            / DAYS_PER_MONTH,
        ..Usage::default()
    };
    let mut itemised: Vec<(String, String)> =
        writes.iter().map(|(step, units)| (step.to_string(), describe(step, units))).collect();
    itemised.push(("summary".into(), format!("summary item written twice: {summary} WRU")));
    itemised.push(("sizes".into(), item_sizes(&scenario.message)));
    Cost {
        name: format!("broadcast of {}", scenario.messages),
        per: "per broadcast",
        units: 1.0,
        lines: lines(&usage, 1.0),
        usage,
        writes: itemised,
    }
}

/// The text scenario at this design's floor: three writes of at most 1 KB to a table with no
/// index (the put and the two transitions), the limiter off, the item stored once.
fn floor(inputs: &Inputs, text: &Cost, scenario: &Scenario) -> Cost {
    let (stream_wru, _, _) = stream_share(inputs, 1.0e6, 1.0);
    let stored = item_size(&scenario.message.finished).min(units::WRITE_UNIT_BYTES) + units::STORED_ITEM_OVERHEAD;
    let usage = Usage {
        // The limiter's round trip is gone from the API's duration too.
        gb_seconds: text.usage.gb_seconds - api_gb_seconds(inputs, inputs.text_cpu_us, inputs.limiter, false)
            + api_gb_seconds(inputs, inputs.text_cpu_us, 0.0, false),
        write_units: 3.0 + stream_wru,
        // Nor the purge marker's read.
        read_units: 0.0,
        dynamodb_gb_months: stored as f64 / GIB * inputs.retention_days / DAYS_PER_MONTH,
        ..text.usage.clone()
    };
    let writes = vec![("floor".into(), "create, begin_attempt, finish_attempt: 1 WRU each, no index".into())];
    Cost {
        name: "floor (text)".into(),
        per: "per million messages",
        units: 1e6,
        lines: lines(&usage, 1e6),
        usage,
        writes,
    }
}

/// Every scenario's cost: text, 1 MB image, broadcast of 1,000, and the floor.
pub async fn model(inputs: &Inputs) -> Result<Vec<Cost>, String> {
    let text_scenario = scenarios::text(scenarios::TEXT).await?;
    let text = single(inputs, "text", &text_scenario, inputs.text_cpu_us, false);
    let image = single(inputs, "1 MB image (inline base64)", &scenarios::image().await?, inputs.image_cpu_us, true);
    let broadcast = broadcast(inputs, &scenarios::broadcast(BROADCAST_CHATS).await?);
    let floor = floor(inputs, &text, &text_scenario);
    Ok(vec![text, image, broadcast, floor])
}

/// bench/results.json, if `make bench` wrote one.
pub fn last_results(root: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(root.join("bench/results.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The model's table, as `make bench` and `cost` print it.
pub fn render(inputs: &Inputs, costs: &[Cost]) -> String {
    let mut out =
        String::from("cost model (list prices, us-east-1, arm64; provisioned = auto scaling at 70% utilisation)\n");
    out.push_str(&format!(
        "  indexes (template.yaml): {}; stream counters shared by a window of {:.0} messages ({} /s per phone × {} s)\n",
        inputs.index_names.join(", "),
        inputs.phone_rate * inputs.window_secs,
        inputs.phone_rate,
        inputs.window_secs
    ));
    out.push_str(&format!(
        "  durations: {} (send handler {:.1} µs text, {:.0} µs 1 MB image CPU; a delivery batch {:.0} ms against a 200 ms provider) + {ROUND_TRIP_MS} ms per awaited AWS request (assumed)\n",
        if inputs.measured { "measured by make bench (bench/results.json)" } else { "assumed (no bench/results.json)" },
        inputs.text_cpu_us,
        inputs.image_cpu_us,
        inputs.delivery_batch_ms
    ));
    for cost in costs {
        out.push_str(&format!("\n{} — {}\n", cost.name, cost.per));
        for (_, write) in &cost.writes {
            out.push_str(&format!("  {write}\n"));
        }
        for line in &cost.lines {
            out.push_str(&format!(
                "  {:<18} {:>12} {:>12}   {}\n",
                line.component,
                dollars(line.on_demand),
                dollars(line.provisioned),
                line.arithmetic
            ));
        }
        out.push_str(&format!(
            "  {:<18} {:>12} {:>12}   on demand / provisioned\n  {:<18} {:>12} {:>12}   (without storage: what the issue's goals count)\n",
            "total",
            dollars(cost.total(false)),
            dollars(cost.total(true)),
            "requests+compute",
            dollars(cost.requests_and_compute(false)),
            dollars(cost.requests_and_compute(true)),
        ));
    }
    out.push_str("\nnot counted: CloudWatch Logs ingestion, KMS, point-in-time recovery ($0.20/GB-month of the table), provider receipts (each an API request and a write), idle SQS polls, the free tiers\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisioned_writes_cost_the_wcu_hour_spread_over_70_percent_of_its_seconds() {
        let usage = Usage { write_units: 3.0, api_requests: 1.0, ..Usage::default() };
        let lines = lines(&usage, 1e6);
        let writes = lines.iter().find(|l| l.component == "DynamoDB writes").unwrap();
        // 3 WRU × 1e6 × $0.625 / 1e6 on demand; 3e6 × $0.00065 / (3,600 × 0.7) provisioned.
        assert!((writes.on_demand - 1.875).abs() < 1e-9);
        assert!((writes.provisioned - 3e6 * 0.00065 / 2520.0).abs() < 1e-9);
        let api = lines.iter().find(|l| l.component == "API Gateway").unwrap();
        assert_eq!((api.on_demand, api.provisioned), (1.0, 1.0));
        assert!(lines.iter().all(|l| l.component != "S3 PUT"), "a zero line is left out");
    }

    #[test]
    fn a_windows_counter_write_is_shared_by_the_messages_in_it() {
        let template = std::fs::read_to_string(crate::workspace_root().join("template.yaml")).unwrap();
        let inputs = Inputs::read(&template, None, 10.0).unwrap();
        assert_eq!(inputs.window_secs, 10.0);
        // 10 messages a second for 10 s share one counter write and two invocations.
        let (wru, invocations, _) = stream_share(&inputs, 1e6, 1.0);
        assert!((wru - 0.01).abs() < 1e-12 && (invocations - 0.02).abs() < 1e-12);
        // A lone message pays a whole window.
        assert_eq!(stream_share(&inputs, 1.0, 2.0).0, 2.0);
        assert!(!inputs.measured, "no results given: the durations are the assumed ones");
    }

    #[test]
    fn lambda_bills_whole_milliseconds() {
        assert_eq!(gb_seconds(256.0, 0.007), 0.25 * 0.001);
        assert_eq!(gb_seconds(1024.0, 200.2), 0.201);
    }
}
