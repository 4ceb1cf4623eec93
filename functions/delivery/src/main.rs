//! The delivery Lambda: SQS jobs in, provider calls out, batch item failures back.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use outbox::Config;
use outbox::adapters::aws::AwsClients;
use outbox::ports::{Clock, SystemClock};
use outbox::providers::Providers;

#[tokio::main]
async fn main() -> Result<(), Error> {
    outbox::telemetry::init();
    let config = Config::from_env()?;
    let aws = AwsClients::from_environment(config.endpoint_url.as_deref()).await;
    let delivery = &outbox::wiring::delivery(&config, &aws, Providers::standard());
    let config_timeout = config.delivery_timeout;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = outbox::deliver::invocation_deadline(event.context.deadline, SystemClock.now(), config_timeout);
        Ok::<_, Error>(outbox::deliver::handle_batch(delivery, event.payload, deadline).await)
    }))
    .await
}
