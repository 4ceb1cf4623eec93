//! A local stand-in for Lambda's DynamoDB stream event source mapping with tumbling windows: it
//! polls every shard of the table's stream (DescribeStream, GetShardIterator, GetRecords), hands
//! each shard's records to the same handler the Lambda binary runs, in windows of `window`, with
//! the window's state carried from one invocation to the next and a final invocation at the
//! window's end, and repeats a failed invocation (holding the shard back) until it succeeds, as
//! Lambda does. Only records of message items are handed over, as the template's filter does.
//!
//! Lambda keeps its own checkpoint; here a checkpoint item per shard (`LOCAL#STREAM#{shard}` /
//! `CHECKPOINT`, local only) does: before a window's final invocation it notes the window's
//! records, after it the last one done, so a consumer killed in between repeats exactly that
//! window on its next start, and a restart carries on after the last window done.

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{
    EventRecord, StreamRecord, TimeWindowEvent, TimeWindowEventResponse, UserIdentity,
};
use aws_lambda_events::time_window::Window;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::adapters::aws::AwsClients;
use crate::telemetry::chain;

/// Records one GetRecords call returns at most (DynamoDB Streams' limit).
const GET_RECORDS_LIMIT: i32 = 1000;
/// How often the shards are listed again (a table's stream splits and rolls its shards).
const DESCRIBE_EVERY: Duration = Duration::from_secs(10);

/// Where to poll, and how.
#[derive(Clone, Debug)]
pub struct StreamSource {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub table: String,
    /// The stream's ARN when the environment names it (`OUTBOX_TABLE_STREAM_ARN`, as the template
    /// gives the function, so that under `make iam` it needs no DescribeTable); else looked up.
    pub stream_arn: Option<String>,
    /// The tumbling window (template.yaml's TumblingWindowInSeconds; a second locally).
    pub window: Duration,
    /// The pause between polls of the shards.
    pub poll: Duration,
}

/// One shard as this source follows it.
#[derive(Default)]
struct Shard {
    /// Where GetRecords goes on; `None` until it is opened, or once the shard is closed and drained.
    iterator: Option<String>,
    opened: bool,
    /// The window in progress: its start, its state, its first and last sequence numbers.
    window: Option<OpenWindow>,
    /// Records read but not yet handed over (an invocation failed): handed over first.
    unsent: Vec<EventRecord>,
}

struct OpenWindow {
    start: DateTime<Utc>,
    state: HashMap<String, String>,
    first: String,
    last: String,
}

impl StreamSource {
    /// Follows `table`'s stream through the emulator at `endpoint`, with windows of `window`; the
    /// streams client has the DynamoDB client's region, credentials and timeouts.
    pub fn new(aws: &AwsClients, endpoint: &str, table: &str, window: Duration) -> StreamSource {
        let dynamodb = aws.dynamodb.config();
        let mut streams = aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(dynamodb.region().cloned())
            .credentials_provider(crate::adapters::aws::emulator_credentials())
            .endpoint_url(endpoint);
        streams.set_timeout_config(dynamodb.timeout_config().cloned());
        let streams = streams.build();
        StreamSource {
            dynamodb: aws.dynamodb.clone(),
            streams: aws_sdk_dynamodbstreams::Client::from_conf(streams),
            table: table.to_string(),
            stream_arn: std::env::var("OUTBOX_TABLE_STREAM_ARN").ok().filter(|arn| !arn.is_empty()),
            window,
            poll: Duration::from_millis(200),
        }
    }

    /// Runs until `shutdown` turns true; an invocation in progress is always finished first.
    pub async fn run<H, F, E>(&self, handler: H, mut shutdown: watch::Receiver<bool>)
    where
        H: Fn(TimeWindowEvent) -> F,
        F: Future<Output = Result<TimeWindowEventResponse, E>>,
        E: Display,
    {
        let mut shards: HashMap<String, Shard> = HashMap::new();
        let mut stream = None;
        let mut described = None::<tokio::time::Instant>;
        while !*shutdown.borrow() {
            if described.is_none_or(|at| at.elapsed() >= DESCRIBE_EVERY) {
                match self.describe().await {
                    Ok((arn, ids)) => {
                        for id in ids {
                            shards.entry(id).or_default();
                        }
                        stream = Some(arn);
                        described = Some(tokio::time::Instant::now());
                    }
                    Err(err) => {
                        warn!(table = %self.table, error = %err, "cannot describe the table's stream; retrying")
                    }
                }
            }
            if let Some(arn) = &stream {
                for (id, shard) in shards.iter_mut() {
                    if let Err(err) = self.step(arn, id, shard, &handler).await {
                        warn!(shard = %id, error = %err, "the stream consumer will try again");
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// The stream's ARN and its shards.
    async fn describe(&self) -> Result<(String, Vec<String>), String> {
        let arn = match &self.stream_arn {
            Some(arn) => arn.clone(),
            None => table_stream_arn(&self.dynamodb, &self.table).await?,
        };
        let mut ids = vec![];
        let mut start = None;
        loop {
            let described = self
                .streams
                .describe_stream()
                .stream_arn(&arn)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .await
                .map_err(|e| chain(&e).to_string())?;
            let description = described
                .stream_description
                .unwrap_or_else(|| aws_sdk_dynamodbstreams::types::StreamDescription::builder().build());
            ids.extend(description.shards.unwrap_or_default().into_iter().filter_map(|s| s.shard_id));
            match description.last_evaluated_shard_id {
                Some(last) => start = Some(last),
                None => break,
            }
        }
        Ok((arn, ids))
    }

    /// One poll of one shard: open it (repeating an unfinished window), read what is new, hand
    /// it over, and end the window when its time is up.
    async fn step<H, F, E>(&self, arn: &str, id: &str, shard: &mut Shard, handler: &H) -> Result<(), String>
    where
        H: Fn(TimeWindowEvent) -> F,
        F: Future<Output = Result<TimeWindowEventResponse, E>>,
        E: Display,
    {
        if !shard.opened {
            self.open(arn, id, shard, handler).await?;
            shard.opened = true;
        }
        if let Some(iterator) = shard.iterator.take() {
            let output = self.streams.get_records().shard_iterator(&iterator).limit(GET_RECORDS_LIMIT).send().await;
            match output {
                Ok(output) => {
                    shard.iterator = output.next_shard_iterator;
                    let records =
                        output.records.unwrap_or_default().into_iter().filter_map(|r| to_event_record(r, arn));
                    // Filtered before anything else, as Lambda does: the consumer's own writes
                    // (counters, this checkpoint) must not open windows of their own.
                    shard.unsent.extend(records.filter(is_message));
                }
                Err(err) => {
                    shard.iterator = Some(iterator);
                    return Err(chain(&err).to_string());
                }
            }
        }
        let now = Utc::now();
        if !shard.unsent.is_empty() {
            let window = shard.window.get_or_insert_with(|| OpenWindow {
                start: window_start(now, self.window),
                state: HashMap::new(),
                first: String::new(),
                last: String::new(),
            });
            let records = std::mem::take(&mut shard.unsent);
            let event = self.event(id, window.start, window.state.clone(), records.clone(), false);
            match handler(event).await {
                Ok(response) => {
                    if window.first.is_empty() {
                        window.first = sequence(&records[0]);
                    }
                    window.last = records.last().map(sequence).unwrap_or_default();
                    window.state = response.time_window_event_response_properties.state;
                }
                Err(err) => {
                    shard.unsent = records;
                    return Err(format!("an invocation failed: {err}"));
                }
            }
        }
        let due = shard.window.as_ref().is_some_and(|w| now >= w.start + window_length(self.window));
        if due {
            if let Some(window) = &shard.window {
                self.note_pending(id, window).await?;
                let event = self.event(id, window.start, window.state.clone(), vec![], true);
                handler(event).await.map_err(|err| format!("a window's final invocation failed: {err}"))?;
                self.note_done(id, &window.last).await?;
                debug!(shard = %id, first = %window.first, last = %window.last, "window done");
            }
            shard.window = None;
        }
        Ok(())
    }

    /// Positions the shard after its checkpoint, first repeating a window left unfinished.
    async fn open<H, F, E>(&self, arn: &str, id: &str, shard: &mut Shard, handler: &H) -> Result<(), String>
    where
        H: Fn(TimeWindowEvent) -> F,
        F: Future<Output = Result<TimeWindowEventResponse, E>>,
        E: Display,
    {
        let checkpoint = self.checkpoint(id).await?;
        let text = |name: &str| checkpoint.get(name).and_then(|v| v.as_s().ok()).cloned();
        let mut done = text("done");
        if let (Some(first), Some(last), Some(start)) =
            (text("pending_first"), text("pending_last"), text("pending_start"))
        {
            let start = DateTime::parse_from_rfc3339(&start).map_err(|e| e.to_string())?.with_timezone(&Utc);
            let records = self.read_range(arn, id, &first, &last).await?;
            let event = self.event(id, start, HashMap::new(), records, true);
            handler(event).await.map_err(|err| format!("repeating an unfinished window failed: {err}"))?;
            self.note_done(id, &last).await?;
            done = Some(last);
        }
        let request = self.streams.get_shard_iterator().stream_arn(arn).shard_id(id);
        let request = match &done {
            Some(done) => request.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).sequence_number(done),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let output = request.send().await.map_err(|e| chain(&e).to_string())?;
        shard.iterator = output.shard_iterator;
        Ok(())
    }

    /// The shard's records from `first` to `last`, inclusive.
    async fn read_range(&self, arn: &str, id: &str, first: &str, last: &str) -> Result<Vec<EventRecord>, String> {
        let output = self
            .streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(id)
            .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
            .sequence_number(first)
            .send()
            .await
            .map_err(|e| chain(&e).to_string())?;
        let (mut iterator, mut records) = (output.shard_iterator, vec![]);
        while let Some(current) = iterator.take() {
            let output = self
                .streams
                .get_records()
                .shard_iterator(current)
                .limit(GET_RECORDS_LIMIT)
                .send()
                .await
                .map_err(|e| chain(&e).to_string())?;
            let batch: Vec<EventRecord> =
                output.records.unwrap_or_default().into_iter().filter_map(|r| to_event_record(r, arn)).collect();
            let reached = batch.is_empty() || batch.iter().any(|r| !before_or_at(&sequence(r), last));
            records.extend(batch.into_iter().filter(|r| before_or_at(&sequence(r), last) && is_message(r)));
            if reached {
                break;
            }
            iterator = output.next_shard_iterator;
        }
        Ok(records)
    }

    fn event(
        &self,
        shard: &str,
        start: DateTime<Utc>,
        state: HashMap<String, String>,
        records: Vec<EventRecord>,
        last: bool,
    ) -> TimeWindowEvent {
        let mut event = TimeWindowEvent::default();
        event.dynamo_db_event.records = records;
        let mut window = Window::default();
        window.start = start;
        window.end = start + window_length(self.window);
        event.time_window_properties.window = window;
        event.time_window_properties.state = state;
        event.time_window_properties.shard_id = Some(shard.to_string());
        event.time_window_properties.is_final_invoke_for_window = last;
        event
    }

    fn checkpoint_key(shard: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_string(), AttributeValue::S(format!("LOCAL#STREAM#{shard}"))),
            ("sk".to_string(), AttributeValue::S("CHECKPOINT".into())),
        ])
    }

    /// The shard's checkpoint, read by an UpdateItem that notes the opening: the function's role
    /// (which `make iam` runs this under) may update the table but not read it.
    async fn checkpoint(&self, shard: &str) -> Result<HashMap<String, AttributeValue>, String> {
        let output = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::checkpoint_key(shard)))
            .update_expression("SET opened_at = :now")
            .expression_attribute_values(":now", AttributeValue::S(Utc::now().to_rfc3339()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| chain(&e).to_string())?;
        Ok(output.attributes.unwrap_or_default())
    }

    async fn note_pending(&self, shard: &str, window: &OpenWindow) -> Result<(), String> {
        self.dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::checkpoint_key(shard)))
            .update_expression("SET pending_first = :first, pending_last = :last, pending_start = :start")
            .expression_attribute_values(":first", AttributeValue::S(window.first.clone()))
            .expression_attribute_values(":last", AttributeValue::S(window.last.clone()))
            .expression_attribute_values(":start", AttributeValue::S(window.start.to_rfc3339()))
            .send()
            .await
            .map_err(|e| chain(&e).to_string())?;
        Ok(())
    }

    async fn note_done(&self, shard: &str, last: &str) -> Result<(), String> {
        self.dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::checkpoint_key(shard)))
            .update_expression("SET done = :last REMOVE pending_first, pending_last, pending_start")
            .expression_attribute_values(":last", AttributeValue::S(last.to_string()))
            .send()
            .await
            .map_err(|e| chain(&e).to_string())?;
        Ok(())
    }
}

/// The ARN of `table`'s stream (DescribeTable): what `outbox-local provision` prints as
/// `OUTBOX_TABLE_STREAM_ARN`, so that a status-stream process under its role needs no DescribeTable.
pub async fn table_stream_arn(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<String, String> {
    let described = dynamodb.describe_table().table_name(table).send().await.map_err(|e| chain(&e).to_string())?;
    described.table.and_then(|t| t.latest_stream_arn).ok_or_else(|| format!("the table {table} has no stream"))
}

/// The start of the window `now` falls in: windows are aligned to multiples of their length.
fn window_start(now: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    let length = window.as_millis().max(1) as i64;
    let start = now.timestamp_millis().div_euclid(length) * length;
    DateTime::from_timestamp_millis(start).unwrap_or(now)
}

fn window_length(window: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(window).unwrap_or(chrono::TimeDelta::seconds(1))
}

fn sequence(record: &EventRecord) -> String {
    record.change.sequence_number.clone().unwrap_or_default()
}

/// Whether sequence number `a` is at or before `b` (decimal strings of any length).
fn before_or_at(a: &str, b: &str) -> bool {
    (a.len(), a) <= (b.len(), b)
}

/// Records of message items only, as the template's FilterCriteria (`sk` = `MSG`) hands over.
fn is_message(record: &EventRecord) -> bool {
    matches!(record.change.keys.get("sk"), Some(serde_dynamo::AttributeValue::S(sk)) if sk == "MSG")
}

/// A stream record as Lambda's event has it.
fn to_event_record(record: Record, arn: &str) -> Option<EventRecord> {
    let change = record.dynamodb?;
    let mut event = EventRecord::default();
    event.event_id = record.event_id.unwrap_or_default();
    event.event_name = record.event_name.map(|name| name.as_str().to_string()).unwrap_or_default();
    event.event_source = record.event_source;
    event.event_version = record.event_version;
    event.aws_region = record.aws_region.unwrap_or_default();
    event.event_source_arn = Some(arn.to_string());
    event.user_identity = record.user_identity.map(|identity| {
        let mut user = UserIdentity::default();
        user.type_ = identity.r#type.unwrap_or_default();
        user.principal_id = identity.principal_id.unwrap_or_default();
        user
    });
    let mut stream_record = StreamRecord::default();
    stream_record.keys = serde_dynamo::Item::from(change.keys.unwrap_or_default());
    stream_record.new_image = serde_dynamo::Item::from(change.new_image.unwrap_or_default());
    stream_record.old_image = serde_dynamo::Item::from(change.old_image.unwrap_or_default());
    stream_record.sequence_number = change.sequence_number;
    stream_record.size_bytes = change.size_bytes.unwrap_or_default();
    if let Some(at) = change.approximate_creation_date_time {
        stream_record.approximate_creation_date_time =
            DateTime::from_timestamp(at.secs(), at.subsec_nanos()).unwrap_or_default();
    }
    event.change = stream_record;
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_as_numbers_and_windows_align() {
        assert!(before_or_at("9", "10") && before_or_at("10", "10") && !before_or_at("11", "10"));
        let at = DateTime::parse_from_rfc3339("2026-01-01T00:00:07.500Z").unwrap().with_timezone(&Utc);
        assert_eq!(window_start(at, Duration::from_secs(5)).to_rfc3339(), "2026-01-01T00:00:05+00:00");
    }
}
