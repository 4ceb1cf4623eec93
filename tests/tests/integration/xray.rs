//! X-Ray subsegments of a traced delivery against moto: every SDK call the real handler makes
//! reaches a loopback daemon under the invocation's trace.

use std::time::Duration;

use outbox_tests::outbox::providers::Providers;
use outbox_tests::outbox::telemetry::xray::{Daemon, in_invocation};
use outbox_tests::{Consumers, Stack, StackOptions};
use reqwest::StatusCode;
use serde_json::{Value, json};

const TRACE_ID: &str = "1-6a0f4c2e-4d2c1f0e9b8a7c6d5e4f3a2b";
const PARENT_ID: &str = "7d3c9b1a5e2f4d60";

/// The documents arriving at `daemon` until none has for `quiet`, each without its header line.
async fn documents(daemon: &tokio::net::UdpSocket, quiet: Duration) -> Vec<Value> {
    let mut documents = Vec::new();
    let mut buffer = vec![0u8; 65_536];
    while let Ok(Ok(length)) = tokio::time::timeout(quiet, daemon.recv(&mut buffer)).await {
        let text = std::str::from_utf8(&buffer[..length]).expect("UTF-8");
        let (header, body) = text.split_once('\n').expect("a header line");
        assert_eq!(header, r#"{"format": "json", "version": 1}"#);
        documents.push(serde_json::from_str(body).expect("JSON"));
    }
    documents
}

#[tokio::test(flavor = "multi_thread")]
async fn a_traced_delivery_sends_a_subsegment_for_each_sdk_call_to_the_daemon() {
    let stack = Stack::start_with(StackOptions { consumers: Consumers::None, ..Default::default() }).await;
    let delivery = outbox_tests::outbox::wiring::delivery(&stack.config, &stack.aws, Providers::standard());
    let (code, accepted) = stack.send(json!({"chat_id": "919537851844", "message": "hi"})).await;
    assert_eq!(code, StatusCode::OK, "{accepted}");
    let event = stack.receive_records(&stack.jobs_source(), 1, Duration::from_secs(10)).await;

    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("a free port");
    let daemon = Daemon::from_address(&socket.local_addr().expect("bound").to_string());
    let header = format!("Root={TRACE_ID};Parent={PARENT_ID};Sampled=1");
    let handled = outbox_tests::outbox::deliver::handle_batch(&delivery, event, stack.deadline());
    let response = in_invocation(daemon.as_ref(), Some(&header), handled).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let (_, status) = stack.status(accepted["queue_id"].as_str().expect("an id")).await;
    assert_eq!(status["status"], "sent", "{status}");

    let documents = documents(&socket, Duration::from_secs(2)).await;
    assert!(!documents.is_empty());
    for document in &documents {
        assert_eq!((&document["type"], &document["namespace"]), (&json!("subsegment"), &json!("aws")), "{document}");
        assert_eq!(
            (&document["trace_id"], &document["parent_id"]),
            (&json!(TRACE_ID), &json!(PARENT_ID)),
            "{document}"
        );
        assert!(document["start_time"].as_f64() <= document["end_time"].as_f64(), "{document}");
        assert_eq!(document["http"]["response"]["status"], 200, "{document}");
        assert_eq!((&document["error"], &document["fault"]), (&json!(false), &json!(false)), "{document}");
        assert_eq!(document["aws"]["region"], "us-east-1", "{document}");
    }
    // The delivery's own writes, named by their table.
    let on_the_table: Vec<_> = documents
        .iter()
        .filter(|d| d["name"] == "DynamoDB" && d["aws"]["table_name"] == stack.config.table.as_str())
        .map(|d| d["aws"]["operation"].as_str().unwrap_or_default())
        .collect();
    assert!(on_the_table.contains(&"UpdateItem"), "{documents:?}");
    let ids: std::collections::HashSet<_> = documents.iter().map(|d| d["id"].as_str()).collect();
    assert_eq!(ids.len(), documents.len(), "each subsegment has its own id");
}
