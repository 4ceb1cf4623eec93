//! Webhook event replay: deliveries on the events dead-letter queue go back on the events queue,
//! where they get the full round of receives and backoffs again, under the same event id.

use std::time::Duration;

use super::AdminError;
use crate::domain::ids::EventId;
use crate::domain::webhook::EventDelivery;
use crate::ports::{DeadEvents, EventQueue};

/// How long a replay holds each dead-lettered delivery it read: the whole pass sees each once.
const HOLD: Duration = Duration::from_secs(120);
/// A replay reads at most this many dead-lettered deliveries in one run (a bound, not a budget:
/// the DLQ keeps 14 days of what a receiver refused).
pub const MAX_REPLAYED: usize = 100_000;

/// Which dead-lettered events to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSelection {
    EventId(EventId),
    All,
}

/// What a replay did.
#[derive(Debug, Default)]
pub struct EventReplayReport {
    /// Back on the events queue.
    pub replayed: Vec<EventDelivery>,
    /// On the DLQ but not an event delivery (left there): their receipt handles' bodies, cut short.
    pub unreadable: Vec<String>,
    /// Read but not selected, and made visible again.
    pub skipped: usize,
}

/// Moves the selected deliveries from the events DLQ back to the events queue: publish first, then
/// delete, so a crash between the two leaves a copy (with the same id) rather than none.
pub async fn replay_events(
    dead: &dyn DeadEvents,
    queue: &dyn EventQueue,
    selection: &EventSelection,
) -> Result<EventReplayReport, AdminError> {
    let mut report = EventReplayReport::default();
    let mut not_selected = vec![];
    let mut read = 0usize;
    while read < MAX_REPLAYED {
        let taken = dead.take(HOLD).await?;
        if taken.is_empty() {
            break;
        }
        read += taken.len();
        for event in taken {
            let delivery = match EventDelivery::decode(&event.body) {
                Ok(delivery) => delivery,
                Err(_) => {
                    report.unreadable.push(event.body.chars().take(80).collect());
                    not_selected.push(event.receipt_handle);
                    continue;
                }
            };
            if let EventSelection::EventId(wanted) = selection
                && &delivery.event_id != wanted
            {
                not_selected.push(event.receipt_handle);
                continue;
            }
            queue.publish(std::slice::from_ref(&delivery)).await?;
            dead.remove(&event.receipt_handle).await?;
            report.replayed.push(delivery);
        }
    }
    report.skipped = not_selected.len() - report.unreadable.len();
    for receipt_handle in not_selected {
        dead.put_back(&receipt_handle).await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::adapters::memory::{MemoryDeadEvents, MemoryEvents};
    use crate::domain::ids::{OrgId, WebhookId};
    use crate::domain::message::{Status, sending_fixture};
    use crate::domain::tenant::ProviderKind;
    use crate::domain::time::Timestamp;
    use crate::domain::webhook::{EventType, WebhookEvent, WebhookRecord};

    fn delivery(status: Status) -> EventDelivery {
        let at = Timestamp::parse("2026-11-30T12:00:00Z").unwrap();
        let webhook = WebhookRecord {
            org_id: OrgId::from("org-1"),
            webhook_id: WebhookId::generate(),
            url: "https://example.com/hook".into(),
            events: BTreeSet::from(EventType::ALL),
            description: None,
            secret_ref: "ref".into(),
            created_at: at,
            updated_at: at,
        };
        let mut record = sending_fixture("phone-1", ProviderKind::Sandbox, "hi");
        record.status = status;
        EventDelivery::of(&webhook, &WebhookEvent::of(&record, "15550100000", at).unwrap())
    }

    #[tokio::test]
    async fn one_event_or_all_go_back_on_the_queue_and_the_rest_stay_dead_lettered() {
        let (sent, read) = (delivery(Status::Sent), delivery(Status::Read));
        let dead = MemoryDeadEvents::default();
        for body in (0..12).map(|i| if i == 7 { read.encode() } else { sent.encode() }).chain(["garbage".into()]) {
            dead.push(&body);
        }
        let queue = MemoryEvents::default();
        let report = replay_events(&dead, &queue, &EventSelection::EventId(read.event_id.clone())).await.unwrap();
        assert_eq!(report.replayed, vec![read.clone()]);
        assert_eq!((report.skipped, report.unreadable.len()), (11, 1));
        assert_eq!(queue.published(), vec![read]);
        assert_eq!(dead.bodies().len(), 12, "the others stay, visible again");

        let report = replay_events(&dead, &queue, &EventSelection::All).await.unwrap();
        assert_eq!(report.replayed.len(), 11);
        assert_eq!(dead.bodies(), ["garbage"], "what is no event delivery is left for a person to look at");
    }

    #[tokio::test]
    async fn a_queue_outage_keeps_the_event_dead_lettered() {
        let dead = MemoryDeadEvents::default();
        dead.push(&delivery(Status::Failed).encode());
        let queue = MemoryEvents::default();
        queue.fail_next(1);
        assert!(replay_events(&dead, &queue, &EventSelection::All).await.is_err());
        assert_eq!(dead.bodies().len(), 1);
    }
}
