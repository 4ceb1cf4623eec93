//! The dead-letter Lambda: every job in the DLQ ends as a `failed`, replayable record.

use aws_lambda_events::event::sqs::SqsEvent;
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
    let dead_letters = &outbox::wiring::dead_letters(&config, &aws);
    let daemon = &Daemon::from_env();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let trace = event.context.xray_trace_id.as_deref();
        let handled = outbox::deliver::dead_letter::handle_batch(dead_letters, event.payload);
        Ok::<_, Error>(xray::in_invocation(daemon.as_ref(), trace, handled).await)
    }))
    .await
}
