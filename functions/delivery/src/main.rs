//! The delivery Lambda: SQS jobs in, provider calls out, batch item failures back.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use outbox::Config;
use outbox::adapters::aws::AwsSdk;
use outbox::ports::{Clock, SystemClock};
use outbox::providers::Providers;
use outbox::telemetry::xray::{self, Daemon};

// One thread: Lambda gives a process one invocation at a time, and its work is awaiting AWS and
// the providers. No worker threads to start (cold start) or per-thread malloc arenas (memory).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    outbox::telemetry::init();
    let config = Config::from_env()?;
    let aws = AwsSdk::from_environment(config.endpoint_url.as_deref()).await;
    let delivery = &outbox::wiring::delivery(&config, &aws, Providers::standard());
    let config_timeout = config.delivery_timeout;
    let daemon = &Daemon::from_env();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = outbox::deliver::invocation_deadline(event.context.deadline, SystemClock.now(), config_timeout);
        let trace = event.context.xray_trace_id.as_deref();
        let handled = outbox::deliver::handle_batch(delivery, event.payload, deadline);
        Ok::<_, Error>(xray::in_invocation(daemon.as_ref(), trace, handled).await)
    }))
    .await
}
