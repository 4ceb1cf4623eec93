//! The dead-letter Lambda: every job in the DLQ ends as a `failed`, replayable record.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use outbox::Config;
use outbox::adapters::aws::AwsClients;

#[tokio::main]
async fn main() -> Result<(), Error> {
    outbox::telemetry::init();
    let config = Config::from_env()?;
    let aws = AwsClients::from_environment(config.endpoint_url.as_deref()).await;
    let dead_letters = &outbox::wiring::dead_letters(&config, &aws);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(outbox::deliver::dead_letter::handle_batch(dead_letters, event.payload).await)
    }))
    .await
}
