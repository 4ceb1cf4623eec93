//! The status-stream Lambda: the table's stream in tumbling windows, the queue counters out.

use aws_lambda_events::event::dynamodb::TimeWindowEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use outbox::Config;
use outbox::adapters::aws::AwsSdk;
use outbox::telemetry::xray::{self, Daemon};

// One thread: Lambda gives a process one invocation at a time, and its work is awaiting AWS and
// the providers. No worker threads to start (cold start) or per-thread malloc arenas (memory).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    outbox::telemetry::init();
    let config = Config::from_env()?;
    let aws = AwsSdk::from_environment(config.endpoint_url.as_deref()).await;
    let stream = &outbox::wiring::status_stream(&config, &aws);
    let daemon = &Daemon::from_env();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<TimeWindowEvent>| async move {
        // An error makes Lambda retry the invocation; the counters take a window in once.
        let trace = event.context.xray_trace_id.as_deref();
        let handled = outbox::stream::handle_window(stream, event.payload);
        xray::in_invocation(daemon.as_ref(), trace, handled).await.map_err(Error::from)
    }))
    .await
}
