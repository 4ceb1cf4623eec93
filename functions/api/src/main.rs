//! The API Lambda: the shared router behind API Gateway.

use lambda_http::tower::ServiceExt;
use lambda_http::{Request, RequestExt, service_fn};
use outbox::Config;
use outbox::adapters::aws::AwsSdk;
use outbox::telemetry::xray::{self, Daemon};

// One thread: Lambda gives a process one invocation at a time, and its work is awaiting AWS and
// the providers. No worker threads to start (cold start) or per-thread malloc arenas (memory).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    outbox::telemetry::init();
    let config = Config::from_env()?;
    let aws = AwsSdk::from_environment(config.endpoint_url.as_deref()).await;
    let app = outbox::api::router(outbox::wiring::app_state(&config, &aws));
    let daemon = &Daemon::from_env();
    lambda_http::run(service_fn(move |request: Request| {
        // Each request's calls are subsegments of its own invocation's trace.
        let trace = request.lambda_context_ref().and_then(|context| context.xray_trace_id.clone());
        let app = app.clone();
        async move { xray::in_invocation(daemon.as_ref(), trace.as_deref(), app.oneshot(request)).await }
    }))
    .await
}
