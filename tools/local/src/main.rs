//! `outbox-local`: the whole stack on a laptop against an AWS emulator (moto by default).
//! `make run` starts the emulator and then this, in the foreground; Ctrl-C stops everything.
//! One function per process (`api`, `delivery`, `dead-letter`, `status-stream`, `webhook`) is how `make iam` runs each under
//! its own identity: with `OUTBOX_TABLE` set, a process uses the resources the environment names,
//! with the credentials it finds there, and creates nothing, as a Lambda would.

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use outbox::adapters::aws::AwsClients;
use outbox::local::{self, LOCAL_API_KEY, LOCAL_PHONE_ID, LOCAL_PHONE_NUMBER, LocalSettings};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{error, info, warn};

#[derive(Parser)]
#[command(about = "Run Outbox locally against an AWS emulator", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Clone, Copy, PartialEq, Eq)]
enum Command {
    /// The API and every consumer in one process (the default).
    All,
    /// Only the HTTP API (the API function).
    Api,
    /// Only the delivery consumer of the jobs queue (the delivery function).
    Delivery,
    /// Only the consumer of the dead-letter queue (the dead-letter function).
    DeadLetter,
    /// Only the consumer of the table's stream (the status-stream function).
    StatusStream,
    /// Only the sender of webhook events (the webhook function).
    Webhook,
    /// The delivery, dead-letter, status-stream and webhook consumers in one process.
    Consumers,
    /// Create the resources and seed the local org, print the variables that name the resources
    /// (`OUTBOX_TABLE=…`), then exit.
    Provision,
}

impl Command {
    fn serves_api(self) -> bool {
        matches!(self, Command::All | Command::Api)
    }

    fn delivers(self) -> bool {
        matches!(self, Command::All | Command::Consumers | Command::Delivery)
    }

    fn consumes_dead_letters(self) -> bool {
        matches!(self, Command::All | Command::Consumers | Command::DeadLetter)
    }

    fn consumes_the_stream(self) -> bool {
        matches!(self, Command::All | Command::Consumers | Command::StatusStream)
    }

    fn sends_webhooks(self) -> bool {
        matches!(self, Command::All | Command::Consumers | Command::Webhook)
    }
}

/// How long to wait for the emulator to answer at start-up.
const EMULATOR_WAIT: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> std::process::ExitCode {
    outbox::telemetry::init();
    let command = Cli::parse().command.unwrap_or(Command::All);
    match run(command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            error!("{}", outbox::telemetry::chain(err.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), Box<dyn std::error::Error>> {
    let settings = LocalSettings::from_env();
    let (config, aws) = if command != Command::Provision && std::env::var_os("OUTBOX_TABLE").is_some() {
        let config = local::function_config(&settings)?;
        info!(table = %config.table, queue = %config.queue_url, "using the resources the environment names");
        (config, AwsClients::emulator(&settings.endpoint).await)
    } else {
        let started = Instant::now();
        let ready = loop {
            match local::prepare(&settings).await {
                Ok(ready) => break ready,
                Err(err) if started.elapsed() < EMULATOR_WAIT => {
                    warn!("waiting for the AWS emulator at {}: {}", settings.endpoint, outbox::telemetry::chain(&err));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(err) => return Err(err.into()),
            }
        };
        local::seed(&ready.0, &ready.1).await?;
        ready
    };
    info!(table = %config.table, queue = %config.queue_url, bucket = %config.media_bucket, "resources ready");
    if command == Command::Provision {
        for (name, value) in local::resource_variables(&config) {
            println!("{name}={value}");
        }
        let stream_arn = local::stream::table_stream_arn(&aws.dynamodb, &config.table).await?;
        println!("OUTBOX_TABLE_STREAM_ARN={stream_arn}");
        return Ok(());
    }

    // Before serving anything: a fault spec whose call log cannot be opened stops the start.
    let providers = outbox::wiring::sandbox_providers(&config)?;
    let messages = local::message_store(&config, &aws)?;
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("stopping: finishing the batches in flight");
        let _ = stop.send(true);
    });

    let api = async {
        if command.serves_api() {
            let port = local::env_or("PORT", "8080");
            let listener = TcpListener::bind(format!("127.0.0.1:{port}")).await?;
            info!(
                "Outbox is up: http://127.0.0.1:{port}/v1 (API key {LOCAL_API_KEY}, phone {LOCAL_PHONE_NUMBER} / {LOCAL_PHONE_ID})"
            );
            local::serve_api(&config, &aws, messages.clone(), listener, shutdown.clone()).await?;
        }
        Ok::<_, std::io::Error>(())
    };
    let consumers = async {
        let poll_wait = Duration::from_secs(2);
        tokio::join!(
            async {
                if command.delivers() {
                    local::run_delivery(
                        &config,
                        &aws,
                        messages.clone(),
                        providers.clone(),
                        poll_wait,
                        shutdown.clone(),
                    )
                    .await;
                }
            },
            async {
                if command.consumes_dead_letters() {
                    local::run_dead_letters(&config, &aws, messages.clone(), poll_wait, shutdown.clone()).await;
                }
            },
            async {
                if command.consumes_the_stream() {
                    local::run_status_stream(&config, &aws, &settings.endpoint, shutdown.clone()).await;
                }
            },
            async {
                if command.sends_webhooks() {
                    local::run_webhooks(&config, &aws, poll_wait, shutdown.clone()).await;
                }
            },
        )
    };
    let (served, ((), (), (), ())) = tokio::join!(api, consumers);
    served?;
    info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match terminate.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
    }
}
