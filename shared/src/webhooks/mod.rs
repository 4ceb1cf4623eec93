//! Webhooks out, the sending side: the webhook function takes deliveries off the events queue and
//! POSTs each event's body to its webhook's URL, signed (`Outbox-Signature`, both secrets during a
//! rotation), within `CALL_TIMEOUT`. A 2xx ends a delivery. A non-2xx, a timeout or a refused
//! target comes back after an exponential backoff, until the queue's redrive moves it to the
//! events dead-letter queue (`outbox-admin webhooks replay` sends it again). A webhook deleted, or
//! no longer subscribed to the event, meanwhile drops it. A batch is posted concurrently and no
//! answer body is read, so a slow or verbose receiver holds up nobody else's events beyond the timeout.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures_util::future::join_all;
use secrecy::SecretString;
use tracing::{Instrument, info, info_span, warn};

use crate::deliver::retry::RetryPolicy;
use crate::deliver::sqs_batch::{ReceivedRecord, batch_response};
use crate::domain::webhook::{EventDelivery, WebhookSecrets};
use crate::lazy_client::LazyClient;
use crate::metrics::{self, Metrics};
use crate::net::egress::Egress;
use crate::net::signatures::webhook_header;
use crate::ports::{Clock, EventQueue, SecretStore, WebhookStore};
use crate::telemetry::chain;
use crate::telemetry::xray::{UrlShown, send_remote};

/// How long one call to a receiver may take, connection included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Connecting to a receiver: part of `CALL_TIMEOUT`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Receives of one delivery before the events queue's redrive moves it to its dead-letter queue
/// (template.yaml's `EventsQueue` says the same): with a 60 s base doubling up to SQS's 12 hours,
/// the last try is about 29 hours after the first.
pub const MAX_RECEIVES: u32 = 12;
/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Outbox-Signature";

/// What the webhook function needs, built once per process.
#[derive(Clone)]
pub struct WebhookSender {
    pub webhooks: Arc<dyn WebhookStore>,
    pub secrets: Arc<dyn SecretStore>,
    pub queue: Arc<dyn EventQueue>,
    /// Where webhooks may point: checked again at each call, since DNS can change.
    pub egress: Egress,
    /// Built by the first call (`http_client`): its trust store is no cold-start work.
    pub http: LazyClient<reqwest::Client>,
    pub clock: Arc<dyn Clock>,
    pub retry: RetryPolicy,
    pub metrics: Metrics,
}

/// The HTTP client for receivers: `egress`'s resolver, `CALL_TIMEOUT`, no redirects.
pub fn http_client(egress: &Egress) -> reqwest::Client {
    egress
        .client_builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT)
        .user_agent(concat!("outbox-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        // Only a TLS backend that cannot start fails here, the same for every call: stop at cold start.
        .expect("the webhook HTTP client could not be built")
}

/// How one delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The receiver answered 2xx.
    Delivered,
    /// Nothing to send any more: the webhook is gone or no longer wants the event, or the message was unreadable.
    Dropped(&'static str),
    /// To be tried again after a backoff.
    Failed(String),
}

impl Outcome {
    fn metric_outcome(&self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Dropped(_) => "dropped",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// One SQS batch of the events queue: every delivery posted concurrently; the ones that failed are
/// hidden for their backoff and reported as batch item failures.
pub async fn handle_batch(sender: &WebhookSender, event: SqsEvent) -> SqsBatchResponse {
    let failed = join_all(event.records.into_iter().filter_map(ReceivedRecord::from_sqs).map(|record| async move {
        let outcome = handle_record(sender, &record).await;
        sender.metrics.emit(
            sender.clock.now(),
            None,
            Some(outcome.metric_outcome()),
            &[(metrics::WEBHOOK_CALLS, 1.0)],
        );
        let Outcome::Failed(reason) = outcome else { return None };
        let delay = sender.retry.delay_for(record.receive_count);
        warn!(message_id = %record.message_id, receive_count = record.receive_count, retry_in_secs = delay.as_secs(), reason = %reason, "webhook call failed");
        if let Err(err) = sender.queue.retry_later(&record.receipt_handle, delay).await {
            warn!(message_id = %record.message_id, error = %chain(&err), "could not set the webhook's backoff; the queue's visibility timeout applies");
        }
        Some(record.message_id)
    }))
    .await;
    batch_response(failed.into_iter().flatten())
}

async fn handle_record(sender: &WebhookSender, record: &ReceivedRecord) -> Outcome {
    let delivery = match EventDelivery::decode(&record.body) {
        Ok(delivery) => delivery,
        Err(err) => {
            // Only the stream consumer writes this queue: a body it did not write is no event of ours.
            warn!(message_id = %record.message_id, error = %err, "an events-queue message that is no event delivery; dropped");
            return Outcome::Dropped("malformed");
        }
    };
    let span = info_span!("webhook", event_id = %delivery.event_id, webhook_id = %delivery.webhook_id, org_id = %delivery.org_id, receive_count = record.receive_count);
    let outcome = deliver(sender, &delivery).instrument(span.clone()).await;
    span.in_scope(|| info!(outcome = outcome.metric_outcome(), event = delivery.kind.as_str(), "webhook delivery"));
    outcome
}

/// Posts one delivery to its webhook as it is now.
async fn deliver(sender: &WebhookSender, delivery: &EventDelivery) -> Outcome {
    let webhook = match sender.webhooks.get_webhook(&delivery.org_id, &delivery.webhook_id).await {
        Ok(Some(webhook)) => webhook,
        Ok(None) => return Outcome::Dropped("webhook_deleted"),
        Err(err) => return Outcome::Failed(format!("the webhook could not be read: {}", chain(&err))),
    };
    if !webhook.wants(delivery.kind) {
        return Outcome::Dropped("unsubscribed");
    }
    let secrets = match read_secrets(sender.secrets.as_ref(), &webhook.secret_ref).await {
        Ok(secrets) => secrets,
        Err(reason) => return Outcome::Failed(reason),
    };
    // Scheme and IP literals here; names are checked by the client's resolver as it connects.
    let url = match sender.egress.parse(&webhook.url) {
        Ok(url) => url,
        Err(err) => return Outcome::Failed(format!("the webhook's URL is refused: {err}")),
    };
    let now = sender.clock.now();
    let signing = secrets.signing_at(now);
    let header =
        webhook_header(&signing.iter().collect::<Vec<&SecretString>>(), now.epoch_secs(), delivery.body.as_bytes());
    let request = sender
        .http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, header)
        .header("Outbox-Event-Id", delivery.event_id.as_str())
        .body(delivery.body.clone());
    let started = std::time::Instant::now();
    // The URL's path may carry the receiver's own token: a trace shows its origin only.
    let answer = send_remote(request, UrlShown::Origin).await;
    let took = started.elapsed();
    match answer {
        // The body is never read: dropping the response closes the connection.
        Ok(response) if response.status().is_success() => Outcome::Delivered,
        Ok(response) => Outcome::Failed(format!("the receiver answered HTTP {}", response.status().as_u16())),
        Err(err) if err.is_timeout() => Outcome::Failed(format!("no answer within {} s", took.as_secs())),
        Err(err) => Outcome::Failed(format!("the call failed: {}", chain(&err))),
    }
}

async fn read_secrets(store: &dyn SecretStore, reference: &str) -> Result<WebhookSecrets, String> {
    let raw =
        store.get(reference).await.map_err(|err| format!("the webhook's secret could not be read: {}", chain(&err)))?;
    serde_json::from_str(&raw).map_err(|err| format!("the webhook's secret is not readable: {err}"))
}

#[cfg(test)]
mod tests;
