//! `POST /v1/message/send` CPU time per request (issue 5, figure 3): the whole router over the
//! in-memory ports, for a text and for a 1 MB base64 image, measured as this thread's CPU time
//! (the runtime is single-threaded, so every instruction of the request runs here).
//! Run: `cargo bench -p outbox --bench send_handler` (`make bench` reads the results).

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tower::ServiceExt;

use outbox::api::{ApiSettings, router};
use outbox::domain::ids::OrgId;
use outbox::domain::tenant::{NewApiKey, Phone, ProviderSettings};
use outbox::ports::{Clock, TenantStore};
use outbox::wiring::in_memory_api;

const KEY: &str = "obx_bench_key";
const NUMBER: &str = "15550100000";
/// The decoded size of the benchmark image.
const IMAGE_BYTES: usize = 1024 * 1024;

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`), in nanoseconds.
struct ThreadCpuTime;

fn thread_cpu_ns() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec it is given, which lives on this stack frame.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "CLOCK_THREAD_CPUTIME_ID is unavailable");
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }

    fn end(&self, started: u64) -> u64 {
        thread_cpu_ns().saturating_sub(started)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Nanoseconds shown as ns, µs or ms of CPU time.
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (divisor, unit) = match typical {
            t if t < 1e3 => (1.0, "ns cpu"),
            t if t < 1e6 => (1e3, "µs cpu"),
            _ => (1e6, "ms cpu"),
        };
        values.iter_mut().for_each(|v| *v /= divisor);
        unit
    }

    fn scale_throughputs(&self, _typical: f64, _throughput: &Throughput, _values: &mut [f64]) -> &'static str {
        // No benchmark here sets a throughput.
        "(no throughput)"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// The router over fresh in-memory ports (`wiring::in_memory_api`, as the handler tests use),
/// with one org, its key and one sandbox phone.
fn app(rate_limit_per_minute: Option<u32>, runtime: &tokio::runtime::Runtime) -> Router {
    // A warm instance: keys and phones come from its cache, as in Lambda between cold starts.
    let settings = ApiSettings {
        max_body_bytes: 6 * 1024 * 1024,
        auth_cache_ttl: Duration::from_secs(600),
        rate_limit_per_minute,
        api_timeout: Duration::from_secs(29),
    };
    let api = in_memory_api(settings);
    let org = OrgId::from("org-bench");
    let now = api.clock.now();
    runtime.block_on(async {
        let key = NewApiKey::from_secret(KEY.into(), org.clone(), None, now);
        api.store.put_api_key(&key.hash, &key.record).await.expect("memory store");
        let phone = Phone {
            org_id: org,
            phone_id: "phone-bench".into(),
            number: NUMBER.into(),
            provider: ProviderSettings::Sandbox,
            created_at: now,
        };
        api.store.put_phone(&phone).await.expect("memory store");
    });
    router(api.state)
}

fn request(body: &Bytes) -> Request<Body> {
    Request::post("/v1/message/send")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .header("x-phone", NUMBER)
        .body(Body::from(body.clone()))
        .expect("a valid request")
}

fn text_body() -> Bytes {
    Bytes::from(r#"{"chat_id": "919537851844@c.us", "message": "Your order #1234 has shipped and arrives Tuesday."}"#)
}

fn image_body() -> Bytes {
    let mut rng = fastrand::Rng::with_seed(7);
    let image: Vec<u8> = (0..IMAGE_BYTES).map(|_| rng.u8(..)).collect();
    let filedata = base64::engine::general_purpose::STANDARD.encode(image);
    let body = serde_json::json!({
        "chat_id": "919537851844@c.us", "message": "the photo",
        "media": {"type": "image", "filename": "photo.jpg", "mimetype": "image/jpeg", "filedata": filedata}
    });
    Bytes::from(body.to_string())
}

/// Each sample gets fresh ports (so the in-memory stores do not grow across the run) and is
/// measured over its requests only.
fn bench_send(c: &mut Criterion<ThreadCpuTime>, name: &str, body: Bytes, rate_limit: Option<u32>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let check = app(rate_limit, &runtime);
    let status = runtime.block_on(async { check.oneshot(request(&body)).await.expect("infallible").status() });
    assert_eq!(status, StatusCode::OK, "{name}: the send must be accepted");
    let mut group = c.benchmark_group("send_handler");
    group.bench_function(name, |b| {
        b.iter_custom(|iterations| {
            let app = app(rate_limit, &runtime);
            let requests: Vec<Request<Body>> = (0..iterations).map(|_| request(&body)).collect();
            let started = thread_cpu_ns();
            runtime.block_on(async {
                for request in requests {
                    let response = app.clone().oneshot(request).await.expect("infallible");
                    std::hint::black_box(response);
                }
            });
            thread_cpu_ns() - started
        })
    });
    group.finish();
}

fn send_handler(c: &mut Criterion<ThreadCpuTime>) {
    bench_send(c, "text", text_body(), None);
    bench_send(c, "text_rate_limited", text_body(), Some(u32::MAX));
    bench_send(c, "image_1mb", image_body(), None);
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime).without_plots();
    targets = send_handler
}
criterion_main!(benches);
