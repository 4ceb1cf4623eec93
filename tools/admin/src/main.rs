//! `outbox-admin`: orgs, API keys, phones, and dead-letter replay of messages and webhook events, against the local stack or a
//! deployment. This file wires the command families (one module each) to the stack.

mod dlq;
mod errors;
mod keys;
mod orgs;
mod output;
mod phones;
mod secrets;
mod stack;
mod webhooks;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use outbox::ports::{Clock, SystemClock};
use tracing_subscriber::EnvFilter;

use errors::Failure;
use secrets::SecretReader;
use stack::connect;

/// Manage Outbox orgs, API keys, phones, dead letters and dead-lettered webhook events.
///
/// With no configuration it talks to the local stack that `make run` started (AWS_ENDPOINT_URL,
/// default http://127.0.0.1:4566; OUTBOX_LOCAL_PREFIX, default outbox-local). With OUTBOX_TABLE set it
/// uses the deployment that the Lambdas' variables (OUTBOX_TABLE, OUTBOX_QUEUE_URL, ...) name.
#[derive(Parser)]
#[command(name = "outbox-admin", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create orgs.
    #[command(subcommand)]
    Org(orgs::OrgCommand),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Key(keys::KeyCommand),
    /// Add, list and remove sending phones.
    #[command(subcommand)]
    Phone(phones::PhoneCommand),
    /// Replay dead-lettered messages.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Replay dead-lettered webhook events.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // stdout carries the results (the last line is what scripts capture), so logs go to stderr, quietly.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
    let (argv, invocation) = phones::add::provider_flag_as_subcommand(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(err) => match invocation.as_ref().and_then(|invocation| phones::add::explain(&err, invocation)) {
            Some(explained) => {
                eprintln!("error: {explained}");
                return ExitCode::from(2);
            }
            None => err.exit(),
        },
    };
    match execute(cli.command).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command) -> Result<ExitCode, Failure> {
    let now = SystemClock.now();
    match command {
        Command::Org(command) => orgs::run(command, &connect().await?, now).await?,
        Command::Key(command) => keys::run(command, &connect().await?, now).await?,
        Command::Phone(command) => {
            // Flags and stdin secrets are settled before any AWS call: a mistake there costs nothing.
            let request = phones::prepare(command, &mut SecretReader::stdin())?;
            phones::run(request, &connect().await?, now).await?
        }
        Command::Dlq(command) => return Ok(dlq::run(command, &connect().await?, now).await?),
        Command::Webhooks(command) => return webhooks::run(command, &connect().await?).await,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
