//! Figure 1: the AWS requests one text message costs, counted on the wire by a proxy in front of
//! moto, on the send path (rate limiter off and on) and the delivery path, against the design's
//! floor (2 per send, 3 with the limiter, 2.2 per delivery). What the stored items cost in write
//! units is the cost model's (figure 7, `outbox_bench::cost`), from the template's index projections.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use outbox::adapters::aws::AwsClients;
use outbox::local::event_source::receipts_of;
use outbox::providers::Providers;
use outbox_bench::proxy::{CountingProxy, Counts};

use crate::harness::{BATCH, Bench, jobs_source};
use crate::report::{Figure, Measurement};

/// Sends made before counting starts, so that connections and caches are warm.
const WARM_UP: usize = 5;

#[derive(Debug, Serialize)]
pub struct RequestCounts {
    sends: usize,
    /// Per accepted text message, by operation.
    pub send_limiter_off: BTreeMap<String, f64>,
    pub send_limiter_on: BTreeMap<String, f64>,
    pub delivery: BTreeMap<String, f64>,
}

fn per(counts: &Counts, n: usize) -> BTreeMap<String, f64> {
    counts.iter().map(|(op, c)| (op.clone(), *c as f64 / n as f64)).collect()
}

fn total(per_op: &BTreeMap<String, f64>) -> f64 {
    per_op.values().sum()
}

impl Measurement for RequestCounts {
    const TITLE: &'static str = "AWS requests per message (counting proxy)";
    const KEY: &'static str = "1_requests";

    fn figures(&self) -> Vec<Figure> {
        let off = total(&self.send_limiter_off);
        let on = total(&self.send_limiter_on);
        let delivery = total(&self.delivery);
        let describe = |per_op: &BTreeMap<String, f64>| {
            per_op.iter().map(|(op, v)| format!("{op} {v:.3}")).collect::<Vec<_>>().join(", ")
        };
        vec![
            Figure::new("1a", "AWS requests per text send, rate limiter off", off, "requests")
                .against(2.0)
                .goal("≤ 2", off, 2.0 + 1e-9)
                .note(format!("floor 2 (PutItem + SendMessage); counted: {}", describe(&self.send_limiter_off))),
            Figure::new("1b", "AWS requests per text send, rate limiter on", on, "requests")
                .against(3.0)
                .goal("≤ 3", on, 3.0 + 1e-9)
                .note(format!("floor 3 (+ the counter's UpdateItem); counted: {}", describe(&self.send_limiter_on))),
            Figure::new("1c", "AWS requests per delivered text message", delivery, "requests")
                .against(2.0 + 2.0 / BATCH as f64)
                .note(format!(
                    "floor 2.2 (2 conditional UpdateItems + ReceiveMessage and DeleteMessageBatch shared by a batch of {BATCH}); counted: {}",
                    describe(&self.delivery)
                )),
        ]
    }
}

/// `n` counted sends with the limiter off and on (each on its own stack), then their delivery.
pub async fn per_message(bench: &Bench<'_>, n: usize) -> Result<RequestCounts, String> {
    let mut counted = BTreeMap::new();
    let mut stacks = vec![];
    for limiter in ["off", "1000000"] {
        let proxy = CountingProxy::start(&bench.moto.endpoint).await?;
        let stack = bench.api_stack(&proxy.endpoint, limiter).await?;
        for i in 0..WARM_UP {
            bench.send_text(&stack.base, i).await?;
        }
        proxy.reset();
        for i in 0..n {
            bench.send_text(&stack.base, WARM_UP + i).await?;
        }
        counted.insert(limiter, per(&proxy.snapshot(), n));
        stacks.push(stack);
    }
    // The delivery path, in process through the same handler and event source the consumers
    // run, against a second proxy: nothing but delivery is counted.
    let stack = &stacks[0];
    let proxy = CountingProxy::start(&bench.moto.endpoint).await?;
    let aws = AwsClients::emulator(&proxy.endpoint).await;
    let delivery = outbox::wiring::delivery(&stack.config, &aws, Providers::standard());
    let (source, arn) = jobs_source(&aws, &stack.config).await;
    proxy.reset();
    let expected = n + WARM_UP;
    let mut delivered = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    while delivered < expected {
        if Instant::now() > deadline {
            return Err(format!("only {delivered} of {expected} messages delivered"));
        }
        let event = source.receive(&arn).await?;
        let receipts = receipts_of(&event);
        let response = outbox::deliver::handle_batch(&delivery, event, delivery.deadline_from_now()).await;
        delivered += receipts.len() - response.batch_item_failures.len();
        source.acknowledge(receipts, &response).await;
    }
    let delivery_counts = per(&proxy.snapshot(), expected);
    Ok(RequestCounts {
        sends: n,
        send_limiter_off: counted.remove("off").unwrap_or_default(),
        send_limiter_on: counted.remove("1000000").unwrap_or_default(),
        delivery: delivery_counts,
    })
}
