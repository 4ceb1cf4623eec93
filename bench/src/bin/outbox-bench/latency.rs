//! Figure 2: a send's latency through the local runner (`outbox-local api` over loopback HTTP),
//! rate limiter off and on, against the bare SDK making the send path's two calls (a conditional
//! PutItem of the same item, then SendMessage) to the same moto, sampled interleaved.

use std::time::Instant;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::json;

use outbox::local::{LOCAL_ORG, LOCAL_PHONE_ID};
use outbox_bench::quantile;
use outbox_bench::records::{Item, scan_message_items};

use crate::harness::{ApiStack, Bench};
use crate::report::{Figure, Measurement};

/// Sends (and bare baseline calls) made before sampling, so that connections and caches are warm.
const WARM_UP: usize = 20;

/// One run per limiter setting.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct SendLatency(Vec<LatencyRun>);

#[derive(Debug, Serialize)]
struct LatencyRun {
    rate_limiter: &'static str,
    samples: usize,
    runner_p50_ms: f64,
    runner_p99_ms: f64,
    baseline_p50_ms: f64,
    baseline_p99_ms: f64,
}

impl LatencyRun {
    fn figure(&self) -> Figure {
        let id = if self.rate_limiter == "off" { "2a" } else { "2b" };
        let ratio_p99 = self.runner_p99_ms / self.baseline_p99_ms;
        Figure::new(
            id,
            &format!("send latency p50 via the local runner, rate limiter {}", self.rate_limiter),
            self.runner_p50_ms,
            "ms",
        )
        .against(self.baseline_p50_ms)
        .goal("≤ 1.5× bare PutItem + SendMessage", self.runner_p50_ms / self.baseline_p50_ms, 1.5)
        .note(format!(
            "p99 {:.2} ms vs {:.2} ms ({ratio_p99:.2}×); {} interleaved samples over loopback HTTP, same moto",
            self.runner_p99_ms, self.baseline_p99_ms, self.samples
        ))
    }
}

impl Measurement for SendLatency {
    const TITLE: &'static str = "send latency vs bare SDK calls";
    const KEY: &'static str = "2_latency";

    fn figures(&self) -> Vec<Figure> {
        self.0.iter().map(LatencyRun::figure).collect()
    }
}

/// `samples` pairs (a send through the runner, then the bare calls) per limiter setting.
pub async fn send_latency(bench: &Bench<'_>, samples: usize) -> Result<SendLatency, String> {
    let mut runs = vec![];
    for (limiter, setting) in [("off", "off"), ("on", "1000000")] {
        let stack = bench.api_stack(&bench.moto.endpoint, setting).await?;
        for i in 0..WARM_UP {
            bench.send_text(&stack.base, i).await?;
        }
        // The baseline writes the same item the runner wrote, under a fresh key each time.
        let template =
            scan_message_items(&stack.aws, &stack.config.table).await?.into_iter().next().unwrap_or_default();
        let job = json!({"v": 1, "org_id": LOCAL_ORG, "queue_id": uuid::Uuid::new_v4().to_string(), "phone_id": LOCAL_PHONE_ID}).to_string();
        for _ in 0..WARM_UP {
            bare_send(&stack, &template, &job).await?;
        }
        let (mut runner, mut baseline) = (vec![], vec![]);
        for i in 0..samples {
            let started = Instant::now();
            bench.send_text(&stack.base, 100 + i).await?;
            runner.push(started.elapsed().as_secs_f64() * 1e3);
            let started = Instant::now();
            bare_send(&stack, &template, &job).await?;
            baseline.push(started.elapsed().as_secs_f64() * 1e3);
        }
        runner.sort_by(f64::total_cmp);
        baseline.sort_by(f64::total_cmp);
        runs.push(LatencyRun {
            rate_limiter: limiter,
            samples,
            runner_p50_ms: quantile(&runner, 0.5),
            runner_p99_ms: quantile(&runner, 0.99),
            baseline_p50_ms: quantile(&baseline, 0.5),
            baseline_p99_ms: quantile(&baseline, 0.99),
        });
        drop(stack.api);
    }
    Ok(SendLatency(runs))
}

/// The send path's two calls with the bare SDK: a conditional PutItem of a message item, then SendMessage.
async fn bare_send(stack: &ApiStack, template: &Item, job: &str) -> Result<(), String> {
    let mut item = template.clone();
    let queue_id = uuid::Uuid::new_v4().to_string();
    item.insert("pk".into(), AttributeValue::S(format!("MSG#{LOCAL_ORG}#{queue_id}")));
    item.insert("queue_id".into(), AttributeValue::S(queue_id));
    stack
        .aws
        .dynamodb
        .put_item()
        .table_name(&stack.config.table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .map_err(|err| format!("baseline PutItem failed: {}", aws_sdk_dynamodb::error::DisplayErrorContext(err)))?;
    stack
        .aws
        .sqs
        .send_message()
        .queue_url(&stack.config.queue_url)
        .message_body(job)
        .send()
        .await
        .map_err(|err| format!("baseline SendMessage failed: {}", aws_sdk_sqs::error::DisplayErrorContext(err)))?;
    Ok(())
}
