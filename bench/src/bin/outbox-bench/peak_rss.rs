//! Figure 6: the API function's peak resident memory after one inline media request of 1 MiB,
//! 3 MiB and the largest its body limit admits (6 MiB), against the size of that request (and its
//! RSS just before, when warm). The process measured is the one that serves the request in AWS:
//! the `outbox-api` Lambda binary under a local Runtime API, given the request as the API Gateway
//! event Lambda would pass it (`events/api-send.json` with this body), on moto. The local runner
//! (`outbox-local api`, every function's code in one binary), given the same request over HTTP, is
//! measured beside it and shown in the figure's note.

use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Value, json};

use outbox::local::{LOCAL_API_KEY, LOCAL_PHONE_NUMBER, resource_variables};
use outbox_bench::processes::memory_of;
use outbox_bench::runtime_api::RuntimeApi;
use outbox_bench::{median, sibling_binary, workspace_root};

use crate::cold_start::lambda_environment;
use crate::harness::{ApiStack, Bench, text_body};
use crate::report::{Figure, Measurement};

/// How long the API function may take to answer one invocation.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

const MIB: usize = 1024 * 1024;

#[derive(Debug, Serialize)]
pub struct PeakRss {
    sizes: Vec<SizeRss>,
}

#[derive(Debug, Serialize)]
pub struct SizeRss {
    request_bytes: usize,
    decoded_media_bytes: usize,
    /// (peak, idle) bytes of each fresh API function process (`outbox-api`).
    runs: Vec<(u64, u64)>,
    /// (peak, idle) bytes of each fresh local runner (`outbox-local api`) given the same request.
    local_runs: Vec<(u64, u64)>,
}

impl Measurement for PeakRss {
    const TITLE: &'static str = "peak RSS for inline media requests of 1, 3 and 6 MiB";
    const KEY: &'static str = "6_rss";

    fn figures(&self) -> Vec<Figure> {
        self.sizes
            .iter()
            .map(|measured| {
                let peak = median(&measured.runs.iter().map(|(peak, _)| *peak as f64).collect::<Vec<_>>());
                let idle = median(&measured.runs.iter().map(|(_, idle)| *idle as f64).collect::<Vec<_>>());
                let local_peak = median(&measured.local_runs.iter().map(|(peak, _)| *peak as f64).collect::<Vec<_>>());
                let local_idle = median(&measured.local_runs.iter().map(|(_, idle)| *idle as f64).collect::<Vec<_>>());
                let size = measured.request_bytes as f64;
                let mib = (size / MIB as f64).round();
                // The largest request keeps the id "6" the earlier runs reported, and is the one the
                // goal is for: below it, the ratio is mostly the idle process's own pages.
                let largest = measured.request_bytes + MIB > outbox::config::DEFAULT_MAX_BODY_BYTES;
                let id = if largest { "6".to_string() } else { format!("6:{mib}MiB") };
                let figure = Figure::new(
                    &id,
                    &format!("peak RSS of the API function (outbox-api), {mib} MiB inline media request"),
                    peak / 1e6,
                    "MB",
                )
                .against(size / 1e6);
                let figure = if largest { figure.goal("≤ 4× the request", peak / size, 4.0) } else { figure };
                figure.note(format!(
                    "a {:.2} MB request ({:.2} MB decoded image); RSS before it {:.1} MB, growth {:.2}× the request; \
                     the local runner (outbox-local api): {:.1} MB peak ({:.2}×), {:.1} MB before",
                    size / 1e6,
                    measured.decoded_media_bytes as f64 / 1e6,
                    idle / 1e6,
                    (peak - idle) / size,
                    local_peak / 1e6,
                    local_peak / size,
                    local_idle / 1e6,
                ))
            })
            .collect()
    }
}

/// For each size, `runs` fresh stacks; on each, a fresh API function and the stack's fresh local
/// runner, each measured warm (after one small send) and after one such request.
pub async fn peak_rss(bench: &Bench<'_>, runs: usize) -> Result<PeakRss, String> {
    let runtime = RuntimeApi::start().await?;
    let template = api_event_template()?;
    let mut sizes = vec![];
    for limit in [MIB, 3 * MIB, outbox::config::DEFAULT_MAX_BODY_BYTES] {
        let (body, decoded) = media_body(limit);
        let (mut measured, mut local) = (vec![], vec![]);
        for _ in 0..runs {
            let stack = bench.api_stack(&bench.moto.endpoint, "off").await?;
            measured.push(function_rss(bench, &runtime, &stack, &template, &body).await?);
            // One small send first, so the idle figure is a warm process's.
            bench.send_text(&stack.base, 0).await?;
            let (_, idle) = memory_of(stack.api.pid())?;
            bench.send_body(&stack.base, body.clone()).await?;
            let (peak, _) = memory_of(stack.api.pid())?;
            local.push((peak, idle));
        }
        sizes.push(SizeRss {
            request_bytes: body.len(),
            decoded_media_bytes: decoded,
            runs: measured,
            local_runs: local,
        });
    }
    Ok(PeakRss { sizes })
}

/// The shipped API Gateway event of a send, whose body and headers each measurement replaces.
fn api_event_template() -> Result<Value, String> {
    let path = workspace_root().join("events/api-send.json");
    let text = std::fs::read_to_string(&path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    serde_json::from_str(&text).map_err(|err| format!("{}: {err}", path.display()))
}

/// `template` carrying `body`, with the local key and phone, as API Gateway would pass the request.
fn api_event(template: &Value, body: &str) -> Vec<u8> {
    let mut event = template.clone();
    event["body"] = json!(body);
    event["headers"]["content-length"] = json!(body.len().to_string());
    event["headers"]["authorization"] = json!(format!("Bearer {LOCAL_API_KEY}"));
    event["headers"]["x-phone"] = json!(LOCAL_PHONE_NUMBER);
    serde_json::to_vec(&event).expect("a JSON value serializes")
}

/// A fresh `outbox-api` on `stack`'s resources: (peak, idle) bytes around one invocation with
/// `body`, after one small send.
async fn function_rss(
    bench: &Bench<'_>,
    runtime: &RuntimeApi,
    stack: &ApiStack,
    template: &Value,
    body: &str,
) -> Result<(u64, u64), String> {
    let log = std::fs::File::create(bench.logs.join("api-function-rss.log")).map_err(|err| err.to_string())?;
    let mut command = Command::new(sibling_binary("outbox-api")?);
    command
        .envs(lambda_environment("outbox-api"))
        .envs(resource_variables(&stack.config))
        .env("AWS_ENDPOINT_URL", &bench.moto.endpoint)
        .env("OUTBOX_RATE_LIMIT_PER_MINUTE", "off")
        .env("RUST_LOG", "warn")
        .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|err| err.to_string())?)
        .stderr(log);
    let mut child = command.spawn().map_err(|err| format!("could not start outbox-api: {err}"))?;
    let measured = async {
        invoke_send(runtime, template, &text_body(0)).await?;
        let (_, idle) = memory_of(child.id())?;
        // Where the idle process's pages are (the binary's, the heap's), for a breakdown.
        let smaps = std::fs::read_to_string(format!("/proc/{}/smaps", child.id())).unwrap_or_default();
        let _ = std::fs::write(bench.logs.join("api-function-idle-smaps.txt"), smaps);
        invoke_send(runtime, template, body).await?;
        let (peak, _) = memory_of(child.id())?;
        Ok((peak, idle))
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    measured
}

/// One send through the API function; an answer other than 2xx is an error.
async fn invoke_send(runtime: &RuntimeApi, template: &Value, body: &str) -> Result<(), String> {
    let answer = runtime.invoke(api_event(template, body), INVOKE_TIMEOUT).await?;
    let answer: Value = serde_json::from_slice(&answer).map_err(|err| format!("the API function's answer: {err}"))?;
    match answer["statusCode"].as_u64() {
        Some(status) if (200..300).contains(&status) => Ok(()),
        _ => Err(format!("the API function answered {}", answer.to_string().chars().take(300).collect::<String>())),
    }
}

/// A send whose body is just under `limit` bytes: an image in base64 as large as fits.
fn media_body(limit: usize) -> (String, usize) {
    let wrap = |filedata: &str| {
        json!({"chat_id": "919537851844", "message": "an inline image",
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
