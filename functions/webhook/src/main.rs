//! The webhook Lambda: event deliveries in from the events queue, signed POSTs out to the orgs'
//! webhooks, batch item failures (with their backoff set) back.

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
    let sender = &outbox::wiring::webhook_sender(&config, &aws).ok_or("OUTBOX_EVENTS_QUEUE_URL is not set")?;
    let daemon = &Daemon::from_env();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let trace = event.context.xray_trace_id.as_deref();
        let handled = outbox::webhooks::handle_batch(sender, event.payload);
        Ok::<_, Error>(xray::in_invocation(daemon.as_ref(), trace, handled).await)
    }))
    .await
}
