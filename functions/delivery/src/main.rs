//! The delivery Lambda: SQS jobs in, provider calls out, batch item failures back.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use outbox::Config;
use outbox::adapters::aws::AwsClients;
use outbox::providers::Providers;

#[tokio::main]
async fn main() -> Result<(), Error> {
    outbox::telemetry::init();
    let config = Config::from_env()?;
    let aws = AwsClients::from_environment(config.endpoint_url.as_deref()).await;
    let delivery = &outbox::wiring::delivery(&config, &aws, Providers::standard());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(outbox::deliver::handle_batch(delivery, event.payload).await)
    }))
    .await
}
