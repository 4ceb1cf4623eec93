//! `outbox-bench` (`make bench`): the figures of issue 5, each measured in one run against its
//! baseline, printed as a table and written to `bench/results.json`. Run it through
//! `scripts/bench.sh`, which builds the release binaries and runs the criterion benchmark first.
//! Wall-clock figures are compared as ratios within this run; nothing here asserts a time.

mod cost;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use base64::Engine as _;
use clap::Parser;
use serde::Serialize;
use serde_json::{Value, json};

use outbox::Config;
use outbox::adapters::aws::AwsClients;
use outbox::adapters::dynamodb::indexes::{self, Index};
use outbox::adapters::memory::{MemoryMedia, MemoryQueue, MemoryStore};
use outbox::deliver::Delivery;
use outbox::deliver::retry::RetryPolicy;
use outbox::domain::ids::OrgId;
use outbox::domain::send::parse_send_request;
use outbox::domain::tenant::{Phone, ProviderSettings};
use outbox::local::event_source::{EventSource, receipts_of};
use outbox::local::{self, LOCAL_API_KEY, LocalSettings};
use outbox::ports::{Clock, SystemClock};
use outbox::providers::Providers;
use outbox::providers::sandbox::FaultySandbox;
use outbox::send::{Enqueuer, QueueDepth};
use outbox_bench::processes::{Moto, Service, ServiceSpec, free_port, memory_of, wait_healthy};
use outbox_bench::proxy::{CountingProxy, Counts};
use outbox_bench::records::{Item, item_size, scan_message_items};
use outbox_bench::runtime_api::RuntimeApi;
use outbox_bench::{fresh_prefix, median, quantile, sibling_binary, workspace_root};

use cost::{Usage, billed_gb_seconds, per_million};

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
    /// Cold starts per binary for figure 5.
    #[arg(long, default_value_t = 15)]
    cold_starts: usize,
    /// Fresh API processes measured for figure 6.
    #[arg(long, default_value_t = 3)]
    rss_runs: usize,
    /// Where the JSON goes.
    #[arg(long, default_value = "bench/results.json")]
    out: PathBuf,
}

/// The template's memory sizes (template.yaml: ApiFunction and DeliveryFunction, 256 MB).
const API_MEMORY_MB: f64 = 256.0;
const DELIVERY_MEMORY_MB: f64 = 256.0;
/// Figure 4's provider latency, also the cost model's delivery wait per batch.
const PROVIDER_LATENCY: Duration = Duration::from_millis(200);
/// The delivery event source's batch size (template.yaml BatchSize).
const BATCH: usize = 10;

#[derive(Debug, Clone, Serialize)]
struct Figure {
    id: String,
    name: String,
    value: f64,
    unit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio: Option<f64>,
    goal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    met: Option<bool>,
    note: String,
}

impl Figure {
    fn new(id: &str, name: &str, value: f64, unit: &str) -> Figure {
        Figure {
            id: id.into(),
            name: name.into(),
            value,
            unit: unit.into(),
            baseline: None,
            ratio: None,
            goal: "-".into(),
            met: None,
            note: String::new(),
        }
    }

    fn against(mut self, baseline: f64) -> Figure {
        self.baseline = Some(baseline);
        self.ratio = Some(self.value / baseline);
        self
    }

    /// The goal as text, and whether `measure` (the value or the ratio) meets `at_most`.
    fn goal(mut self, text: &str, measure: f64, at_most: f64) -> Figure {
        self.goal = text.into();
        self.met = Some(measure <= at_most);
        self
    }

    fn note(mut self, note: impl Into<String>) -> Figure {
        self.note = note.into();
        self
    }
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
    let http = reqwest::Client::builder().no_proxy().build().map_err(|err| err.to_string())?;
    let bench = Bench { moto: &moto, http: &http, logs: &logs };
    let mut figures = vec![];
    let mut details = BTreeMap::new();

    eprintln!("bench: 1/7 AWS requests per message (counting proxy)");
    let requests = bench.requests_per_message(options.counted_sends).await?;
    figures.extend(requests.figures());
    details.insert("1_requests", serde_json::to_value(&requests).unwrap_or_default());

    eprintln!("bench: 2/7 send latency vs bare SDK calls");
    let latency = bench.send_latency(options.latency_samples).await?;
    figures.extend(latency.iter().map(LatencyRun::figure));
    details.insert("2_latency", serde_json::to_value(&latency).unwrap_or_default());

    eprintln!("bench: 3/7 send handler CPU time (criterion results)");
    let cpu = handler_cpu(&root)?;
    figures.extend(cpu.figures());
    details.insert("3_handler_cpu", serde_json::to_value(&cpu).unwrap_or_default());

    eprintln!("bench: 4/7 a batch of 10 with a 200 ms provider");
    let batch = bench.batch_ratio(options.batches).await?;
    figures.extend(batch.figures());
    details.insert("4_batch", serde_json::to_value(&batch).unwrap_or_default());

    eprintln!("bench: 5/7 cold starts under a local Runtime API");
    let cold = cold_starts(&root, options.cold_starts).await?;
    figures.extend(cold.figures());
    details.insert("5_cold_start", serde_json::to_value(&cold).unwrap_or_default());

    eprintln!("bench: 6/7 peak RSS for the largest inline media request");
    let rss = bench.peak_rss(options.rss_runs).await?;
    figures.push(rss.figure());
    details.insert("6_rss", serde_json::to_value(&rss).unwrap_or_default());

    eprintln!("bench: 7/7 cost per million text messages");
    let cost = cost_model(&requests, &cpu);
    figures.push(cost.figure());
    details.insert("7_cost", serde_json::to_value(&cost).unwrap_or_default());

    let table = render(&figures, &cost);
    println!("{table}");
    let results = json!({
        "command": "make bench",
        "generated_at": SystemClock.now(),
        "duration_secs": started.elapsed().as_secs_f64().round(),
        "machine": machine(),
        "figures": figures,
        "details": details,
        "prices": cost::PRICES,
    });
    let out = root.join(&options.out);
    let text = serde_json::to_string_pretty(&results).map_err(|err| err.to_string())?;
    std::fs::write(&out, text + "\n").map_err(|err| format!("cannot write {}: {err}", out.display()))?;
    println!("written to {} in {:.0} s", out.display(), started.elapsed().as_secs_f64());
    Ok(())
}

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

struct Bench<'a> {
    moto: &'a Moto,
    http: &'a reqwest::Client,
    logs: &'a Path,
}

/// A fresh stack for one measurement: resources created directly on moto, and an API process
/// whose AWS endpoint is `endpoint` (moto itself, or a counting proxy in front of it).
struct ApiStack {
    config: Config,
    aws: AwsClients,
    base: String,
    api: Service,
}

impl Bench<'_> {
    async fn api_stack(&self, endpoint: &str, rate_limit: &str) -> Result<ApiStack, String> {
        let prefix = fresh_prefix("bench");
        let overrides = vec![("OUTBOX_AUTH_CACHE_SECS".to_string(), "10".to_string())];
        let settings = LocalSettings { endpoint: self.moto.endpoint.clone(), prefix: prefix.clone(), overrides };
        let (config, aws) = local::prepare(&settings).await.map_err(|err| format!("provisioning failed: {err}"))?;
        local::seed(&config, &aws).await.map_err(|err| format!("seeding failed: {err}"))?;
        let port = free_port()?;
        let env: Vec<(String, String)> = [
            ("AWS_ENDPOINT_URL", endpoint),
            ("OUTBOX_LOCAL_PREFIX", prefix.as_str()),
            ("PORT", &port.to_string()),
            // Ten seconds, as in AWS: a warm instance looks its key and phones up once per ten seconds.
            ("OUTBOX_AUTH_CACHE_SECS", "10"),
            ("OUTBOX_RATE_LIMIT_PER_MINUTE", rate_limit),
            ("RUST_LOG", "warn"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let spec = ServiceSpec {
            binary: sibling_binary("outbox-local")?,
            args: vec!["api".into()],
            env,
            log: self.logs.join(format!("api-{prefix}.log")),
        };
        let mut api = spec.spawn()?;
        let base = format!("http://127.0.0.1:{port}");
        wait_healthy(self.http, &base, &mut api, Duration::from_secs(60)).await?;
        Ok(ApiStack { config, aws, base, api })
    }

    async fn send_text(&self, base: &str, i: usize) -> Result<(), String> {
        let body = json!({"chat_id": format!("9199{:08}", i), "message": format!("Your order #{i} has shipped.")});
        self.send_body(base, body.to_string()).await
    }

    async fn send_body(&self, base: &str, body: String) -> Result<(), String> {
        let response = self
            .http
            .post(format!("{base}/v1/message/send"))
            .bearer_auth(LOCAL_API_KEY)
            .header("content-type", "application/json")
            .header("x-phone", local::LOCAL_PHONE_NUMBER)
            .body(body)
            .send()
            .await
            .map_err(|err| format!("send failed: {err}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(format!("send answered {status}: {text}"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- figure 1

#[derive(Debug, Serialize)]
struct RequestCounts {
    sends: usize,
    /// Per accepted text message, by operation.
    send_limiter_off: BTreeMap<String, f64>,
    send_limiter_on: BTreeMap<String, f64>,
    delivery: BTreeMap<String, f64>,
    /// DynamoDB write request units per message, from the stored items' sizes and index keys.
    wru_send: f64,
    wru_delivery: f64,
    wru_rate_counter: f64,
    item_bytes_queued: usize,
    item_bytes_sent: usize,
}

fn per(counts: &Counts, n: usize) -> BTreeMap<String, f64> {
    counts.iter().map(|(op, c)| (op.clone(), *c as f64 / n as f64)).collect()
}

fn total(per_op: &BTreeMap<String, f64>) -> f64 {
    per_op.values().sum()
}

fn service_total(per_op: &BTreeMap<String, f64>, service: &str) -> f64 {
    per_op.iter().filter(|(op, _)| op.starts_with(service)).map(|(_, v)| v).sum()
}

impl RequestCounts {
    fn figures(&self) -> Vec<Figure> {
        let off = total(&self.send_limiter_off);
        let on = total(&self.send_limiter_on);
        let delivery = total(&self.delivery);
        let describe = |per_op: &BTreeMap<String, f64>| {
            per_op.iter().map(|(op, v)| format!("{op} {v:.3}")).collect::<Vec<_>>().join(", ")
        };
        vec![
            Figure::new("1a", "AWS requests per text send, rate limiter off", off, "requests")
                .against(2.0)
                .goal("≤ 2", off, 2.0 + 1e-9)
                .note(format!("floor 2 (PutItem + SendMessage); counted: {}", describe(&self.send_limiter_off))),
            Figure::new("1b", "AWS requests per text send, rate limiter on", on, "requests")
                .against(3.0)
                .goal("≤ 3", on, 3.0 + 1e-9)
                .note(format!("floor 3 (+ the counter's UpdateItem); counted: {}", describe(&self.send_limiter_on))),
            Figure::new("1c", "AWS requests per delivered text message", delivery, "requests")
                .against(2.0 + 2.0 / BATCH as f64)
                .note(format!(
                    "floor 2.2 (2 conditional UpdateItems + ReceiveMessage and DeleteMessageBatch shared by a batch of {BATCH}); counted: {}",
                    describe(&self.delivery)
                )),
        ]
    }
}

impl Bench<'_> {
    async fn requests_per_message(&self, n: usize) -> Result<RequestCounts, String> {
        const WARM_UP: usize = 5;
        let mut counted = BTreeMap::new();
        let mut stacks = vec![];
        for limiter in ["off", "1000000"] {
            let proxy = CountingProxy::start(&self.moto.endpoint).await?;
            let stack = self.api_stack(&proxy.endpoint, limiter).await?;
            for i in 0..WARM_UP {
                self.send_text(&stack.base, i).await?;
            }
            proxy.reset();
            for i in 0..n {
                self.send_text(&stack.base, WARM_UP + i).await?;
            }
            counted.insert(limiter, per(&proxy.snapshot(), n));
            stacks.push(stack);
        }
        // The delivery path, in process through the same handler and event source the consumers
        // run, against a second proxy: nothing but delivery is counted.
        let stack = &stacks[0];
        let queued_item =
            scan_message_items(&stack.aws, &stack.config.table).await?.into_iter().next().unwrap_or_default();
        let proxy = CountingProxy::start(&self.moto.endpoint).await?;
        let aws = AwsClients::emulator(&proxy.endpoint).await;
        let delivery = outbox::wiring::delivery(&stack.config, &aws, Providers::standard());
        let source = EventSource {
            sqs: aws.sqs.clone(),
            queue_url: stack.config.queue_url.clone(),
            wait: Duration::from_secs(1),
        };
        let arn = source.queue_arn().await;
        proxy.reset();
        let expected = n + WARM_UP;
        let mut delivered = 0;
        let deadline = Instant::now() + Duration::from_secs(300);
        while delivered < expected {
            if Instant::now() > deadline {
                return Err(format!("only {delivered} of {expected} messages delivered"));
            }
            let event = source.receive(&arn).await?;
            let receipts = receipts_of(&event);
            let response = outbox::deliver::handle_batch(&delivery, event).await;
            delivered += receipts.len() - response.batch_item_failures.len();
            source.acknowledge(receipts, &response).await;
        }
        let delivery_counts = per(&proxy.snapshot(), expected);
        let sent_item = scan_message_items(&stack.aws, &stack.config.table)
            .await?
            .into_iter()
            .find(|item| item.get("status").and_then(|s| s.as_s().ok()).is_some_and(|s| s == "sent"))
            .unwrap_or_default();
        let wru_send = write_units(None, &queued_item);
        let wru_delivery = write_units(Some(&queued_item), &queued_item) + write_units(Some(&queued_item), &sent_item);
        Ok(RequestCounts {
            sends: n,
            send_limiter_off: counted.remove("off").unwrap_or_default(),
            send_limiter_on: counted.remove("1000000").unwrap_or_default(),
            delivery: delivery_counts,
            wru_send,
            wru_delivery,
            wru_rate_counter: 1.0,
            item_bytes_queued: item_size(&queued_item),
            item_bytes_sent: item_size(&sent_item),
        })
    }
}

/// DynamoDB write request units of one write of a message item from `before` to `after`: the
/// table's, plus each global index (all project ALL) the item is in before or after; an index
/// key that changes costs a delete and a put. (The begin transition is counted as `queued →
/// queued`: its index keys are those of the queued item.)
fn write_units(before: Option<&Item>, after: &Item) -> f64 {
    let kb = |item: &Item| item_size(item).div_ceil(1024).max(1) as f64;
    let size = before.map_or(kb(after), |b| kb(b).max(kb(after)));
    // An item is in an index only while it has both of the index's key attributes.
    let key = |item: &Item, index: &Index| {
        let attribute = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        attribute(index.pk).zip(attribute(index.sk))
    };
    let indexes: f64 = indexes::ALL
        .iter()
        .map(|index| match (before.and_then(|b| key(b, index)), key(after, index)) {
            (None, None) => 0.0,
            (Some(old), Some(new)) if old != new => 2.0 * size,
            _ => size,
        })
        .sum();
    size + indexes
}

// ---------------------------------------------------------------- figure 2

#[derive(Debug, Serialize)]
struct LatencyRun {
    rate_limiter: &'static str,
    samples: usize,
    runner_p50_ms: f64,
    runner_p99_ms: f64,
    baseline_p50_ms: f64,
    baseline_p99_ms: f64,
}

impl LatencyRun {
    fn figure(&self) -> Figure {
        let id = if self.rate_limiter == "off" { "2a" } else { "2b" };
        let ratio_p99 = self.runner_p99_ms / self.baseline_p99_ms;
        Figure::new(
            id,
            &format!("send latency p50 via the local runner, rate limiter {}", self.rate_limiter),
            self.runner_p50_ms,
            "ms",
        )
        .against(self.baseline_p50_ms)
        .goal("≤ 1.5× bare PutItem + SendMessage", self.runner_p50_ms / self.baseline_p50_ms, 1.5)
        .note(format!(
            "p99 {:.2} ms vs {:.2} ms ({ratio_p99:.2}×); {} interleaved samples over loopback HTTP, same moto",
            self.runner_p99_ms, self.baseline_p99_ms, self.samples
        ))
    }
}

impl Bench<'_> {
    async fn send_latency(&self, samples: usize) -> Result<Vec<LatencyRun>, String> {
        let mut runs = vec![];
        for (limiter, setting) in [("off", "off"), ("on", "1000000")] {
            let stack = self.api_stack(&self.moto.endpoint, setting).await?;
            for i in 0..20 {
                self.send_text(&stack.base, i).await?;
            }
            // The baseline writes the same item the runner wrote, under a fresh key each time.
            let template =
                scan_message_items(&stack.aws, &stack.config.table).await?.into_iter().next().unwrap_or_default();
            let job = json!({"v": 1, "org_id": local::LOCAL_ORG, "queue_id": uuid::Uuid::new_v4().to_string(), "phone_id": local::LOCAL_PHONE_ID}).to_string();
            for _ in 0..20 {
                bare_send(&stack, &template, &job).await?;
            }
            let (mut runner, mut baseline) = (vec![], vec![]);
            for i in 0..samples {
                let started = Instant::now();
                self.send_text(&stack.base, 100 + i).await?;
                runner.push(started.elapsed().as_secs_f64() * 1e3);
                let started = Instant::now();
                bare_send(&stack, &template, &job).await?;
                baseline.push(started.elapsed().as_secs_f64() * 1e3);
            }
            runner.sort_by(f64::total_cmp);
            baseline.sort_by(f64::total_cmp);
            runs.push(LatencyRun {
                rate_limiter: limiter,
                samples,
                runner_p50_ms: quantile(&runner, 0.5),
                runner_p99_ms: quantile(&runner, 0.99),
                baseline_p50_ms: quantile(&baseline, 0.5),
                baseline_p99_ms: quantile(&baseline, 0.99),
            });
            drop(stack.api);
        }
        Ok(runs)
    }
}

/// The send path's two calls with the bare SDK: a conditional PutItem of a message item, then SendMessage.
async fn bare_send(stack: &ApiStack, template: &Item, job: &str) -> Result<(), String> {
    let mut item = template.clone();
    let queue_id = uuid::Uuid::new_v4().to_string();
    let s = aws_sdk_dynamodb::types::AttributeValue::S;
    item.insert("pk".into(), s(format!("MSG#{}#{queue_id}", local::LOCAL_ORG)));
    item.insert("queue_id".into(), s(queue_id));
    stack
        .aws
        .dynamodb
        .put_item()
        .table_name(&stack.config.table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .map_err(|err| format!("baseline PutItem failed: {}", aws_sdk_dynamodb::error::DisplayErrorContext(err)))?;
    stack
        .aws
        .sqs
        .send_message()
        .queue_url(&stack.config.queue_url)
        .message_body(job)
        .send()
        .await
        .map_err(|err| format!("baseline SendMessage failed: {}", aws_sdk_sqs::error::DisplayErrorContext(err)))?;
    Ok(())
}

// ---------------------------------------------------------------- figure 3

#[derive(Debug, Serialize)]
struct HandlerCpu {
    /// Criterion's median estimate, in microseconds of thread CPU time per request.
    text_us: f64,
    text_rate_limited_us: f64,
    image_1mb_us: f64,
}

impl HandlerCpu {
    fn figures(&self) -> Vec<Figure> {
        vec![
            Figure::new("3a", "send handler CPU per text request (in-memory ports)", self.text_us, "µs")
                .goal("< 100 µs", self.text_us, 100.0)
                .note(format!(
                    "criterion, thread CPU time; with the (in-memory) rate limiter {:.1} µs",
                    self.text_rate_limited_us
                )),
            Figure::new("3b", "send handler CPU per 1 MB base64 image request", self.image_1mb_us, "µs")
                .note("1 MiB decoded (1.4 MB of base64): JSON parse, base64 decode, copy to the media store"),
        ]
    }
}

fn handler_cpu(root: &Path) -> Result<HandlerCpu, String> {
    let estimate = |name: &str| -> Result<f64, String> {
        let path = root.join(format!("target/criterion/send_handler/{name}/new/estimates.json"));
        let text = std::fs::read_to_string(&path).map_err(|err| {
            format!("{} is missing ({err}): run `cargo bench -p outbox --bench send_handler` first", path.display())
        })?;
        let json: Value = serde_json::from_str(&text).map_err(|err| format!("{}: {err}", path.display()))?;
        json["median"]["point_estimate"].as_f64().map(|ns| ns / 1e3).ok_or(format!("{}: no median", path.display()))
    };
    Ok(HandlerCpu {
        text_us: estimate("text")?,
        text_rate_limited_us: estimate("text_rate_limited")?,
        image_1mb_us: estimate("image_1mb")?,
    })
}

// ---------------------------------------------------------------- figure 4

#[derive(Debug, Serialize)]
struct BatchRatio {
    provider_latency_ms: f64,
    /// handle_batch on 10 records, against moto (DynamoDB transitions through the SDK).
    moto_batches_ms: Vec<f64>,
    /// The same handler over the in-memory ports.
    memory_batches_ms: Vec<f64>,
}

impl BatchRatio {
    fn figures(&self) -> Vec<Figure> {
        let latency = self.provider_latency_ms;
        let moto = median(&self.moto_batches_ms);
        let memory = median(&self.memory_batches_ms);
        vec![
            Figure::new("4a", "delivery of a batch of 10, provider 200 ms, on moto", moto, "ms")
                .against(latency)
                .goal("≤ 1.3× 200 ms", moto / latency, 1.3)
                .note(format!(
                    "median of {} batches; 20 conditional UpdateItems to moto run concurrently",
                    self.moto_batches_ms.len()
                )),
            Figure::new("4b", "delivery of a batch of 10, provider 200 ms, in-memory ports", memory, "ms")
                .against(latency)
                .goal("≤ 1.3× 200 ms", memory / latency, 1.3)
                .note("the handler's own overhead: records decoded and delivered concurrently"),
        ]
    }
}

fn slow_sandbox() -> Result<Providers, String> {
    let faults = format!("latency_ms={}", PROVIDER_LATENCY.as_millis()).parse()?;
    let sandbox = FaultySandbox::new(faults).map_err(|err| err.to_string())?;
    Ok(Providers::new(Arc::new(sandbox)))
}

impl Bench<'_> {
    async fn batch_ratio(&self, batches: usize) -> Result<BatchRatio, String> {
        let stack = self.api_stack(&self.moto.endpoint, "off").await?;
        let delivery = outbox::wiring::delivery(&stack.config, &stack.aws, slow_sandbox()?);
        let source = EventSource {
            sqs: stack.aws.sqs.clone(),
            queue_url: stack.config.queue_url.clone(),
            wait: Duration::from_secs(1),
        };
        let arn = source.queue_arn().await;
        let mut moto_batches = vec![];
        for round in 0..batches + 1 {
            for i in 0..BATCH {
                self.send_text(&stack.base, round * BATCH + i).await?;
            }
            let mut event = SqsEvent::default();
            let deadline = Instant::now() + Duration::from_secs(30);
            while event.records.len() < BATCH && Instant::now() < deadline {
                event.records.extend(source.receive(&arn).await?.records);
            }
            if event.records.len() != BATCH {
                return Err(format!("received {} of {BATCH} jobs", event.records.len()));
            }
            let receipts = receipts_of(&event);
            let started = Instant::now();
            let response = outbox::deliver::handle_batch(&delivery, event).await;
            let elapsed = started.elapsed().as_secs_f64() * 1e3;
            if !response.batch_item_failures.is_empty() {
                return Err(format!("{} jobs of the batch failed", response.batch_item_failures.len()));
            }
            source.acknowledge(receipts, &response).await;
            // The first batch warms connections and is not counted.
            if round > 0 {
                moto_batches.push(elapsed);
            }
        }
        drop(stack.api);
        let memory_batches = memory_batches(batches).await?;
        Ok(BatchRatio {
            provider_latency_ms: PROVIDER_LATENCY.as_secs_f64() * 1e3,
            moto_batches_ms: moto_batches,
            memory_batches_ms: memory_batches,
        })
    }
}

async fn memory_batches(batches: usize) -> Result<Vec<f64>, String> {
    let store = Arc::new(MemoryStore::default());
    let queue = Arc::new(MemoryQueue::default());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let enqueuer = Enqueuer {
        store: store.clone(),
        queue: queue.clone(),
        media: Arc::new(MemoryMedia::default()),
        clock: clock.clone(),
        retention: Duration::from_secs(3600),
        depth: Arc::new(QueueDepth::new(Duration::from_secs(1))),
    };
    let org = OrgId::from("org-bench".to_string());
    let phone = Phone {
        org_id: org.clone(),
        phone_id: "phone-bench".into(),
        number: "15550100000".into(),
        provider: ProviderSettings::Sandbox,
        created_at: clock.now(),
    };
    let delivery = Delivery {
        store: store.clone(),
        queue: queue.clone(),
        providers: slow_sandbox()?,
        clock: clock.clone(),
        retry: RetryPolicy { base: Duration::from_secs(1) },
        max_attempts: 3,
        lease: Duration::from_secs(30),
    };
    let mut timings = vec![];
    for round in 0..batches {
        let mut event = SqsEvent::default();
        for i in 0..BATCH {
            let body = json!({"chat_id": format!("9188{:08}", round * BATCH + i), "message": "hello"}).to_string();
            let message = parse_send_request(body.as_bytes(), clock.now()).map_err(|err| format!("{err:?}"))?;
            enqueuer.enqueue_message(&org, &phone, message).await.map_err(|err| err.to_string())?;
            let job = queue.jobs.lock().map_err(|_| "poisoned")?.last().cloned().unwrap_or_default();
            let mut record = SqsMessage::default();
            record.message_id = Some(format!("m-{round}-{i}"));
            record.receipt_handle = Some(format!("r-{round}-{i}"));
            record.body = Some(job);
            record.attributes.insert("ApproximateReceiveCount".into(), "1".into());
            event.records.push(record);
        }
        let started = Instant::now();
        let response = outbox::deliver::handle_batch(&delivery, event).await;
        timings.push(started.elapsed().as_secs_f64() * 1e3);
        if !response.batch_item_failures.is_empty() {
            return Err("an in-memory delivery failed".into());
        }
    }
    Ok(timings)
}

// ---------------------------------------------------------------- figure 5

#[derive(Debug, Serialize)]
struct ColdStarts {
    runs: usize,
    /// Binary → (median ms from exec to the first `next`, size in bytes).
    binaries: BTreeMap<String, (f64, u64)>,
    hello_ms: f64,
    hello_bytes: u64,
    /// Sizes of the cargo-lambda builds (`make lambda`), when present.
    lambda_zip_binaries: BTreeMap<String, u64>,
}

impl ColdStarts {
    fn figures(&self) -> Vec<Figure> {
        self.binaries
            .iter()
            .map(|(name, (ms, bytes))| {
                Figure::new(&format!("5:{name}"), &format!("cold start {name} (exec → first `next`)"), *ms, "ms")
                    .against(self.hello_ms)
                    .goal("≤ 1.5× hello-world", ms / self.hello_ms, 1.5)
                    .note(format!(
                        "{:.1} MB binary vs hello-world {:.1} MB; median of {} interleaved runs",
                        *bytes as f64 / 1e6,
                        self.hello_bytes as f64 / 1e6,
                        self.runs
                    ))
            })
            .collect()
    }
}

async fn cold_starts(root: &Path, runs: usize) -> Result<ColdStarts, String> {
    let release = root.join("target/release");
    let names = ["outbox-api", "outbox-delivery", "outbox-dead-letter", "hello-lambda"];
    for name in names {
        if !release.join(name).exists() {
            return Err(format!("target/release/{name} is missing: `cargo build --release --workspace --bins` first"));
        }
    }
    let runtime = RuntimeApi::start().await?;
    let mut timings: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for _ in 0..runs {
        for name in names {
            let mut command = Command::new(release.join(name));
            command.env_clear().envs(lambda_environment(name));
            let elapsed =
                runtime.cold_start(command, Duration::from_secs(10)).await.map_err(|err| format!("{name}: {err}"))?;
            timings.entry(name).or_default().push(elapsed.as_secs_f64() * 1e3);
        }
    }
    let size = |path: PathBuf| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut binaries = BTreeMap::new();
    for name in &names[..3] {
        binaries.insert(name.to_string(), (median(&timings[name]), size(release.join(name))));
    }
    let lambda_zip_binaries = names[..3]
        .iter()
        .map(|name| (name.to_string(), size(root.join(format!("target/lambda/{name}/bootstrap")))))
        .filter(|(_, bytes)| *bytes > 0)
        .collect();
    Ok(ColdStarts {
        runs,
        binaries,
        hello_ms: median(&timings["hello-lambda"]),
        hello_bytes: size(release.join("hello-lambda")),
        lambda_zip_binaries,
    })
}

/// What Lambda gives a function (and what our functions need) when AWS_LAMBDA_RUNTIME_API is
/// the emulator: no network is touched before the first `next`.
fn lambda_environment(name: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_FUNCTION_NAME", name),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("OUTBOX_TABLE", "bench-table"),
        ("OUTBOX_QUEUE_URL", "http://127.0.0.1:9/000000000000/bench-jobs"),
        ("OUTBOX_DLQ_URL", "http://127.0.0.1:9/000000000000/bench-dlq"),
        ("OUTBOX_MEDIA_BUCKET", "bench-media"),
        ("RUST_LOG", "info"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

// ---------------------------------------------------------------- figure 6

#[derive(Debug, Serialize)]
struct PeakRss {
    request_bytes: usize,
    decoded_media_bytes: usize,
    runs: Vec<(u64, u64)>,
}

impl PeakRss {
    fn figure(&self) -> Figure {
        let peak = median(&self.runs.iter().map(|(peak, _)| *peak as f64).collect::<Vec<_>>());
        let idle = median(&self.runs.iter().map(|(_, idle)| *idle as f64).collect::<Vec<_>>());
        let size = self.request_bytes as f64;
        Figure::new("6", "peak RSS of the API process, largest inline media request", peak / 1e6, "MB")
            .against(size / 1e6)
            .goal("≤ 4× the request", peak / size, 4.0)
            .note(format!(
                "a {:.2} MB request ({:.2} MB decoded image); RSS before it {:.1} MB, growth {:.2}× the request",
                size / 1e6,
                self.decoded_media_bytes as f64 / 1e6,
                idle / 1e6,
                (peak - idle) / size
            ))
    }
}

impl Bench<'_> {
    async fn peak_rss(&self, runs: usize) -> Result<PeakRss, String> {
        let (body, decoded) = largest_media_body(outbox::config::DEFAULT_MAX_BODY_BYTES);
        let mut measured = vec![];
        for _ in 0..runs {
            let stack = self.api_stack(&self.moto.endpoint, "off").await?;
            // One small send first, so the idle figure is a warm process's.
            self.send_text(&stack.base, 0).await?;
            let (_, idle) = memory_of(stack.api.pid())?;
            self.send_body(&stack.base, body.clone()).await?;
            let (peak, _) = memory_of(stack.api.pid())?;
            measured.push((peak, idle));
        }
        Ok(PeakRss { request_bytes: body.len(), decoded_media_bytes: decoded, runs: measured })
    }
}

/// A send whose body is just under `limit` bytes: an image in base64 as large as fits.
fn largest_media_body(limit: usize) -> (String, usize) {
    let wrap = |filedata: &str| {
        json!({"chat_id": "919537851844", "message": "the largest inline image",
               "media": {"type": "image", "filename": "big.jpg", "mimetype": "image/jpeg", "filedata": filedata}})
        .to_string()
    };
    let overhead = wrap("").len();
    let decoded = (limit - overhead) / 4 * 3;
    let mut rng = fastrand::Rng::with_seed(11);
    let bytes: Vec<u8> = (0..decoded).map(|_| rng.u8(..)).collect();
    let body = wrap(&base64::engine::general_purpose::STANDARD.encode(&bytes));
    (body, decoded)
}

// ---------------------------------------------------------------- figure 7

#[derive(Debug, Serialize)]
struct CostModel {
    usage: Usage,
    lines: Vec<cost::Line>,
    total_usd_per_million: f64,
    /// The design's floor on the same prices (see `cost_model`).
    floor_usd_per_million: f64,
    assumptions: Vec<String>,
}

impl CostModel {
    fn figure(&self) -> Figure {
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
            ))
    }
}

fn cost_model(requests: &RequestCounts, cpu: &HandlerCpu) -> CostModel {
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
            indexes::ALL.len(),
            requests.wru_send,
            requests.wru_delivery
        ),
        format!("API Lambda: {API_MEMORY_MB} MB, {:.1} µs CPU (figure 3) billed as 1 ms; AWS round trips not billed here (in-region they add ~10-20 ms: +$0.04-0.07 per million)", cpu.text_us),
        format!("delivery Lambda: {DELIVERY_MEMORY_MB} MB, full batches of {BATCH}, {delivery_ms:.0} ms each (the 200 ms provider of figure 4)"),
        "not counted: CloudWatch Logs ingestion ($0.50/GB), data transfer out, KMS, the dead-letter function (idle for successful messages), SQS long polls of idle queues".into(),
    ];
    CostModel { usage, lines, total_usd_per_million, floor_usd_per_million, assumptions }
}

// ---------------------------------------------------------------- output

fn render(figures: &[Figure], cost: &CostModel) -> String {
    let mut rows = vec![[
        "#".to_string(),
        "figure".into(),
        "value".into(),
        "baseline".into(),
        "ratio".into(),
        "goal".into(),
        "met".into(),
    ]];
    for f in figures {
        rows.push([
            f.id.clone(),
            f.name.clone(),
            // Request counts get three decimals: the amortised per-second requests show there.
            if f.unit == "requests" {
                format!("{:.3} {}", f.value, f.unit)
            } else {
                format!("{} {}", short(f.value), f.unit)
            },
            f.baseline.map(short).unwrap_or_else(|| "-".into()),
            f.ratio.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "-".into()),
            f.goal.clone(),
            match f.met {
                Some(true) => "yes".into(),
                Some(false) => "NO".into(),
                None => "-".into(),
            },
        ]);
    }
    let widths: Vec<usize> = (0..7).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut text = String::from("\n");
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:w$}")).collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
        if i == 0 {
            text.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
            text.push('\n');
        }
    }
    text.push_str("\nnotes:\n");
    for f in figures {
        if !f.note.is_empty() {
            text.push_str(&format!("  {}: {}\n", f.id, f.note));
        }
    }
    text.push_str("\ncost per million text messages (figure 7):\n");
    for line in &cost.lines {
        text.push_str(&format!("  {:<16} {:<44} ${:.4}\n", line.component, line.arithmetic, line.usd_per_million));
    }
    text.push_str(&format!("  {:<16} {:<44} ${:.4}\n", "total", "", cost.total_usd_per_million));
    for assumption in &cost.assumptions {
        text.push_str(&format!("  - {assumption}\n"));
    }
    text
}

fn short(value: f64) -> String {
    match value.abs() {
        v if v >= 100.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        _ => format!("{value:.2}"),
    }
}
