//! The API Lambda: the shared router behind API Gateway.

use outbox::Config;
use outbox::adapters::aws::AwsClients;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    outbox::telemetry::init();
    let config = Config::from_env()?;
    let aws = AwsClients::from_environment(config.endpoint_url.as_deref()).await;
    lambda_http::run(outbox::api::router(outbox::wiring::app_state(&config, &aws))).await
}
