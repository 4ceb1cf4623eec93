//! `outbox-admin dlq …`: dead-lettered messages back on the queue, one or all.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use outbox::admin::{self, AdminError, ReplayOptions, ReplaySelection};
use outbox::domain::ids::QueueId;
use outbox::domain::time::Timestamp;

use crate::stack::Services;

#[derive(Subcommand)]
pub enum DlqCommand {
    /// Move dead-lettered messages back to the queue for another round of attempts.
    Replay(Replay),
}

#[derive(Args)]
pub struct Replay {
    #[command(flatten)]
    selection: Selection,
    /// Also replay messages whose last attempt was interrupted: the provider may have sent them
    /// already, so the recipient may get them twice.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct Selection {
    /// Replay this message only.
    #[arg(long)]
    queue_id: Option<String>,
    /// Replay every dead-lettered message.
    #[arg(long)]
    all: bool,
}

/// Fails (exit code 1) when any message could not be replayed, after reporting every one.
pub async fn run(command: DlqCommand, services: &Services, now: Timestamp) -> Result<ExitCode, AdminError> {
    let DlqCommand::Replay(replay) = command;
    let selection =
        replay.selection.queue_id.map_or(ReplaySelection::All, |id| ReplaySelection::QueueId(QueueId::from(id)));
    let options = ReplayOptions { retention: services.retention, force: replay.force };
    let report = admin::replay_dead_letters(&services.store, &services.queue, &selection, options, now).await?;
    for record in &report.replayed {
        println!(
            "replayed {} (org {}, chat {}, {} attempts so far)",
            record.queue_id,
            record.org_id,
            record.chat_id.as_str(),
            record.attempts
        );
    }
    for queue_id in &report.not_dead_lettered {
        println!("{queue_id}: not dead-lettered (unknown, never dead-lettered, or replayed already); nothing to do");
    }
    for record in &report.interrupted {
        println!(
            "{}: not replayed: its last attempt was interrupted, so the provider may have sent it; \
             check with the recipient, then replay it with --force to send it again",
            record.queue_id
        );
    }
    for (queue_id, error) in &report.failed {
        eprintln!("{queue_id}: not replayed: {error}");
    }
    println!(
        "replayed {}, not dead-lettered {}, interrupted (not replayed) {}, failed {}",
        report.replayed.len(),
        report.not_dead_lettered.len(),
        report.interrupted.len(),
        report.failed.len()
    );
    Ok(if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::Cli;

    #[test]
    fn a_replay_takes_one_queue_id_or_all() {
        let parse = |args: &[&str]| Cli::try_parse_from(["outbox-admin", "dlq", "replay"].iter().chain(args));
        assert!(parse(&[]).is_err());
        assert!(parse(&["--all", "--queue-id", "q"]).is_err());
        assert!(parse(&["--all"]).is_ok());
        assert!(parse(&["--queue-id", "q"]).is_ok());
        assert!(parse(&["--all", "--force"]).is_ok());
        assert!(parse(&["--queue-id", "q", "--force"]).is_ok());
        assert!(parse(&["--force"]).is_err(), "--force alone names nothing to replay");
    }
}
