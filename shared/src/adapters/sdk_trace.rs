//! The SDK interceptor every AWS client carries: each operation of a traced invocation becomes an
//! X-Ray `aws` subsegment (service, operation, region, table or queue, status, retries).

use aws_config::Region;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::Input;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

use crate::telemetry::xray::{self, AwsCall, Call, Namespace, bounded};

/// Records the SDK calls of traced invocations; costs one task-local lookup per call otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct SdkCalls;

/// What an operation's start knows: its time, and the table or queue named by its input (read
/// before serialisation takes the input away).
#[derive(Debug, Clone)]
struct Started {
    time: f64,
    table_name: Option<String>,
    queue_url: Option<String>,
}

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl Intercept for SdkCalls {
    fn name(&self) -> &'static str {
        "XRaySubsegments"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if xray::current().is_some() {
            let input = context.input();
            let started = Started { time: xray::now(), table_name: table_name(input), queue_url: queue_url(input) };
            cfg.interceptor_state().store_put(started);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (Some(recorder), Some(started)) = (xray::current(), cfg.load::<Started>()) else {
            return Ok(());
        };
        let (service, operation) = cfg.load::<Metadata>().map_or(("AWS", "unknown"), |m| (m.service(), m.name()));
        let response = context.response();
        let status = response.map(|r| r.status().as_u16());
        let request_id = response
            .and_then(|r| r.headers().get("x-amzn-requestid").or_else(|| r.headers().get("x-amz-request-id")))
            .map(bounded);
        recorder.record(&Call {
            name: bounded(service),
            namespace: Namespace::Aws,
            start_time: started.time,
            end_time: xray::now(),
            status,
            throttled: status.is_some_and(|s| s >= 400) && response.and_then(error_code).is_some_and(is_throttling),
            aws: Some(AwsCall {
                operation: bounded(operation),
                region: cfg.load::<Region>().map(|region| bounded(region.as_ref())),
                request_id,
                retries: cfg.load::<RequestAttempts>().map_or(0, |a| a.attempts().saturating_sub(1)),
                table_name: started.table_name.clone(),
                queue_url: started.queue_url.clone(),
            }),
            request: None,
        });
        Ok(())
    }
}

/// The error code of an AWS answer: the `X-Amzn-ErrorType` header, a JSON body's `__type` (or
/// `code`), or an XML body's `<Code>`, without the protocol's `namespace#` prefix or `:…` suffix.
fn error_code(response: &HttpResponse) -> Option<String> {
    let code = match response.headers().get("x-amzn-errortype") {
        Some(header) => header.to_string(),
        None => {
            // Error answers are small and already read; a large body is not searched.
            let body = response.body().bytes().filter(|body| body.len() <= MAX_ERROR_BODY_BYTES)?;
            match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(json) => json.get("__type").or_else(|| json.get("code"))?.as_str()?.to_string(),
                Err(_) => {
                    let text = std::str::from_utf8(body).ok()?;
                    let start = text.find("<Code>")? + "<Code>".len();
                    text[start..].split('<').next()?.to_string()
                }
            }
        }
    };
    let code = code.rsplit('#').next()?.split(':').next()?.trim();
    (!code.is_empty()).then(|| bounded(code))
}

/// The most of an error answer that is searched for its code.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Whether `code` is one the SDK's own retry classifier treats as throttling.
fn is_throttling(code: String) -> bool {
    aws_runtime::retries::classifiers::THROTTLING_ERRORS.contains(&code.as_str())
}

/// The first of `$input`'s types that it is, mapped to its `$field`, bounded.
macro_rules! field_of {
    ($input:expr, $field:ident, [$($ty:ty),+ $(,)?]) => {{
        let input: &Input = $input;
        None$(.or_else(|| input.downcast_ref::<$ty>().and_then(|i| i.$field()).map(bounded)))+
    }};
}

/// The table of the DynamoDB operations Outbox calls.
fn table_name(input: &Input) -> Option<String> {
    use aws_sdk_dynamodb::operation::{delete_item, get_item, put_item, query, update_item};
    field_of!(
        input,
        table_name,
        [
            put_item::PutItemInput,
            update_item::UpdateItemInput,
            get_item::GetItemInput,
            delete_item::DeleteItemInput,
            query::QueryInput,
        ]
    )
}

/// The queue of the SQS operations Outbox calls.
fn queue_url(input: &Input) -> Option<String> {
    use aws_sdk_sqs::operation::{
        change_message_visibility, delete_message, delete_message_batch, get_queue_attributes, receive_message,
        send_message, send_message_batch,
    };
    field_of!(
        input,
        queue_url,
        [
            send_message::SendMessageInput,
            send_message_batch::SendMessageBatchInput,
            receive_message::ReceiveMessageInput,
            delete_message::DeleteMessageInput,
            delete_message_batch::DeleteMessageBatchInput,
            change_message_visibility::ChangeMessageVisibilityInput,
            get_queue_attributes::GetQueueAttributesInput,
        ]
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use aws_sdk_dynamodb::types::AttributeValue;
    use serde_json::Value;

    use crate::adapters::aws::AwsClients;
    use crate::telemetry::xray::in_invocation;
    use crate::telemetry::xray::tests::{FakeDaemon, assert_subsegment_of_the_invocation, sampled_header};

    /// A loopback AWS endpoint answering each request with the next of `answers` (the last repeats).
    async fn scripted_endpoint(answers: Vec<(u16, &'static str)>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let answered = Arc::new(AtomicUsize::new(0));
        let router = axum::Router::new().fallback(move || {
            let (answered, answers) = (Arc::clone(&answered), answers.clone());
            async move {
                let (status, body) = answers[answered.fetch_add(1, Ordering::SeqCst).min(answers.len() - 1)];
                let status = http::StatusCode::from_u16(status).expect("a status");
                (status, [("x-amzn-requestid", "req-1"), ("content-type", "application/x-amz-json-1.0")], body)
            }
        });
        tokio::spawn(async move { axum::serve(listener, router).await });
        url
    }

    async fn put(clients: &AwsClients) -> bool {
        let put = clients.dynamodb.put_item().table_name("outbox-test").item("pk", AttributeValue::S("k".into()));
        put.send().await.is_ok()
    }

    #[tokio::test]
    async fn a_traced_call_is_one_aws_subsegment_and_an_untraced_one_sends_nothing() {
        let fake = FakeDaemon::start().await;
        let daemon = fake.daemon();
        let clients = AwsClients::emulator(&scripted_endpoint(vec![(200, "{}")]).await).await;
        assert!(put(&clients).await);
        let header = sampled_header();
        assert!(in_invocation(Some(&daemon), Some(&header.replace("Sampled=1", "Sampled=0")), put(&clients)).await);
        assert!(fake.documents(Duration::from_millis(300)).await.is_empty());

        assert!(in_invocation(Some(&daemon), Some(&header), put(&clients)).await);
        let documents = fake.documents(Duration::from_secs(2)).await;
        assert_eq!(documents.len(), 1, "{documents:?}");
        let document = &documents[0];
        assert_subsegment_of_the_invocation(document);
        assert_eq!(document["name"], "DynamoDB");
        assert_eq!(document["namespace"], "aws");
        assert_eq!(
            document["aws"],
            serde_json::json!({"operation": "PutItem", "region": "us-east-1", "request_id": "req-1", "retries": 0, "table_name": "outbox-test"})
        );
        assert_eq!(document["http"]["response"]["status"], 200);
        assert_eq!(
            (&document["error"], &document["throttle"], &document["fault"]),
            (&Value::Bool(false), &Value::Bool(false), &Value::Bool(false))
        );
    }

    #[tokio::test]
    async fn retries_throttles_errors_and_unanswered_calls_set_their_flags() {
        let fake = FakeDaemon::start().await;
        let daemon = fake.daemon();
        let flaky = AwsClients::emulator(
            &scripted_endpoint(vec![(500, r#"{"__type": "InternalFailure"}"#), (200, r#"{"Attributes": {}}"#)]).await,
        )
        .await;
        let throttled = r#"{"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", "message": "slow down"}"#;
        let throttling = AwsClients::emulator(&scripted_endpoint(vec![(400, throttled)]).await).await;
        let invalid = r#"{"__type": "com.amazonaws.dynamodb.v20120810#ValidationException", "message": "no"}"#;
        let refusing = AwsClients::emulator(&scripted_endpoint(vec![(400, invalid)]).await).await;
        // A port that was free a moment ago: nothing answers there.
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            format!("http://{}", listener.local_addr().expect("bound"))
        };
        let unanswered = AwsClients::emulator(&closed).await;
        let queue = "http://127.0.0.1/000000000000/outbox-jobs";
        let calls = async {
            assert!(flaky.sqs.get_queue_attributes().queue_url(queue).send().await.is_ok());
            assert!(!put(&throttling).await);
            assert!(!put(&refusing).await);
            assert!(!put(&unanswered).await);
        };
        in_invocation(Some(&daemon), Some(&sampled_header()), calls).await;
        let documents = fake.documents(Duration::from_secs(2)).await;
        assert_eq!(documents.len(), 4, "{documents:?}");
        documents.iter().for_each(assert_subsegment_of_the_invocation);
        let summary: Vec<_> = documents
            .iter()
            .map(|d| {
                let flags = [&d["error"], &d["throttle"], &d["fault"]].map(|flag| flag.as_bool().expect("a flag"));
                (
                    d["name"].as_str(),
                    d["aws"]["operation"].as_str(),
                    d["aws"]["retries"].as_u64(),
                    d["http"]["response"]["status"].as_u64(),
                    flags,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (Some("SQS"), Some("GetQueueAttributes"), Some(1), Some(200), [false, false, false]),
                (Some("DynamoDB"), Some("PutItem"), Some(2), Some(400), [true, true, false]),
                (Some("DynamoDB"), Some("PutItem"), Some(0), Some(400), [true, false, false]),
                (Some("DynamoDB"), Some("PutItem"), Some(2), None, [false, false, true]),
            ]
        );
        assert_eq!(documents[0]["aws"]["queue_url"], queue);
        assert!(documents[3].get("http").is_none(), "{}", documents[3]);
    }
}
