//! The API Lambda: the shared router behind API Gateway.

use std::convert::Infallible;

use lambda_http::lambda_runtime::layers::TracingLayer;
use lambda_http::tower::ServiceExt;
use lambda_http::{Body, IntoResponse, Request, RequestExt, service_fn};
use outbox::Config;
use outbox::adapters::aws::AwsSdk;
use outbox::api::lambda_body::LambdaBodies;
use outbox::telemetry::xray::{self, Daemon};

// One thread: Lambda gives a process one invocation at a time, and its work is awaiting AWS and
// the providers. No worker threads to start (cold start) or per-thread malloc arenas (memory).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    outbox::telemetry::init();
    let config = Config::from_env()?;
    let aws = AwsSdk::from_environment(config.endpoint_url.as_deref()).await;
    let app = outbox::api::router(outbox::wiring::app_state(&config, &aws));
    let daemon = Daemon::from_env();
    // Each event's body is taken out of the event before lambda_http reads it, and put back here.
    let bodies = LambdaBodies::new();
    let layer = bodies.layer();
    let handler = service_fn(move |mut request: Request| {
        let context = request.lambda_context_ref();
        // Each request's calls are subsegments of its own invocation's trace.
        let trace = context.and_then(|context| context.xray_trace_id.clone());
        if let Some(body) = context.and_then(|context| bodies.restore(&context.request_id)) {
            *request.body_mut() = Body::Binary(body);
        }
        let (app, daemon) = (app.clone(), daemon.clone());
        async move {
            let response = xray::in_invocation(daemon.as_ref(), trace.as_deref(), app.oneshot(request)).await?;
            // lambda_http's own conversion, made here: the runtime wants a response it can share.
            Ok::<_, Infallible>(response.into_response().await)
        }
    });
    // What lambda_http::run sets up, plus the body layer: each invocation's span (its request id on
    // every log line) outermost.
    lambda_http::runtime(handler).layer(layer).layer(TracingLayer::new()).run().await
}
