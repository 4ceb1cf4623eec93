//! `outbox-admin webhooks …`: webhook events the receivers refused for a day, back on the events queue.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use outbox::admin::{self, EventSelection};
use outbox::domain::ids::EventId;

use crate::errors::Failure;
use crate::stack::Services;

#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// Send dead-lettered webhook events again (each keeps its id, so receivers dedupe it).
    Replay(Replay),
}

#[derive(Args)]
pub struct Replay {
    #[command(flatten)]
    selection: Selection,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct Selection {
    /// Replay this event only (every copy of it on the dead-letter queue).
    #[arg(long)]
    event_id: Option<String>,
    /// Replay every dead-lettered event.
    #[arg(long)]
    all: bool,
}

/// Fails (exit code 1) when an event id was named but not found.
pub async fn run(command: WebhooksCommand, services: &Services) -> Result<ExitCode, Failure> {
    let WebhooksCommand::Replay(replay) = command;
    let (Some(events), Some(dead)) = (&services.events, &services.dead_events) else {
        return Err(Failure::Stack(
            "this stack names no events queue: set OUTBOX_EVENTS_QUEUE_URL and OUTBOX_EVENTS_DLQ_URL \
             (`make admin-env` prints them for a deployment)"
                .into(),
        ));
    };
    let selection =
        replay.selection.event_id.map_or(EventSelection::All, |id| EventSelection::EventId(EventId::from(id)));
    let report = admin::replay_events(dead, events, &selection).await?;
    for delivery in &report.replayed {
        println!(
            "replayed {} ({}, webhook {}, org {})",
            delivery.event_id,
            delivery.kind.as_str(),
            delivery.webhook_id,
            delivery.org_id
        );
    }
    for body in &report.unreadable {
        eprintln!("left on the dead-letter queue, not an event delivery: {body}");
    }
    println!(
        "replayed {}, not selected {}, unreadable {}",
        report.replayed.len(),
        report.skipped,
        report.unreadable.len()
    );
    let missing = matches!(selection, EventSelection::EventId(_)) && report.replayed.is_empty();
    if missing {
        eprintln!("no such event on the dead-letter queue");
    }
    Ok(if missing { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::Cli;

    #[test]
    fn a_replay_takes_one_event_id_or_all() {
        let parse = |args: &[&str]| Cli::try_parse_from(["outbox-admin", "webhooks", "replay"].iter().chain(args));
        assert!(parse(&[]).is_err());
        assert!(parse(&["--all", "--event-id", "evt_1"]).is_err());
        assert!(parse(&["--all"]).is_ok());
        assert!(parse(&["--event-id", "evt_1"]).is_ok());
    }
}
