//! A black-box run: the `outbox-local` binary, as `make run` starts it, driven over plain HTTP.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use outbox_tests::moto_endpoint;
use serde_json::{Value, json};

/// `target/<profile>/outbox-local`, next to this test binary's `deps/` folder.
fn local_runner() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let runner = dir.join("outbox-local");
    assert!(runner.exists(), "{} is missing: run `cargo build -p outbox-local` (make test does)", runner.display());
    runner
}

struct Runner(Child);

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Starts `outbox-local` on a free port against the test moto, with `stdout` as given; returns
/// it once `/health` answers, with its base URL.
async fn start_runner(stdout: Stdio) -> (Runner, String) {
    let port = free_port();
    let prefix = format!("bb{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let runner = Runner(
        Command::new(local_runner())
            .env("AWS_ENDPOINT_URL", moto_endpoint())
            .env("PORT", port.to_string())
            .env("OUTBOX_LOCAL_PREFIX", &prefix)
            .env("RUST_LOG", "warn")
            .stdout(stdout)
            .spawn()
            .expect("start outbox-local"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = http.get(format!("{base}/health")).send().await {
            if response.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "outbox-local did not become healthy");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (runner, base)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_runner_sends_a_message_end_to_end_over_http() {
    let (_runner, base) = start_runner(Stdio::null()).await;
    let http = reqwest::Client::new();
    let status = send_and_settle(&http, &base, "919537851844@c.us").await;
    assert_eq!((status["status"].as_str(), status["attempts"].as_u64()), (Some("sent"), Some(1)), "{status}");
}

/// Sends a Periskope text to `chat` from the local phone and waits until its status is final;
/// returns the status.
async fn send_and_settle(http: &reqwest::Client, base: &str, chat: &str) -> Value {
    let accepted: Value = http
        .post(format!("{base}/v1/message/send"))
        .header("Authorization", "Bearer local-dev-key")
        .header("x-phone", "15550100000")
        .json(&json!({"chat_id": chat, "message": "Hi from Periskope"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accepted["status"], "queued", "{accepted}");
    let unique_id = accepted["unique_id"].as_str().unwrap_or_else(|| panic!("accepted: {accepted}")).to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status: Value = http
            .get(format!("{base}/v1/message/{unique_id}/status"))
            .header("Authorization", "Bearer local-dev-key")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["status"] == "sent" || status["status"] == "failed" {
            return status;
        }
        assert!(Instant::now() < deadline, "{chat} not settled in time: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_runners_log_carries_the_metric_lines_of_a_sent_a_failed_and_a_retried_message() {
    let (mut runner, base) = start_runner(Stdio::piped()).await;
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let stdout = runner.0.stdout.take().expect("piped stdout");
    let reader = {
        let log = log.clone();
        // Drained on its own thread so the runner never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                log.lock().unwrap().push(line);
            }
        })
    };
    let http = reqwest::Client::new();
    // The sandbox: any other number is sent, ...02 fails permanently, ...03 fails twice then is sent.
    let sent = send_and_settle(&http, &base, "919537851844").await;
    let failed = send_and_settle(&http, &base, "15550000002").await;
    let retried = send_and_settle(&http, &base, "15550000003").await;
    assert_eq!((sent["status"].as_str(), sent["attempts"].as_u64()), (Some("sent"), Some(1)));
    assert_eq!((failed["status"].as_str(), failed["attempts"].as_u64()), (Some("failed"), Some(1)));
    assert_eq!((retried["status"].as_str(), retried["attempts"].as_u64()), (Some("sent"), Some(3)));
    drop(runner);
    reader.join().expect("the log reader");

    let metrics: Vec<Value> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.starts_with('{') && line.contains("\"_aws\""))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect();
    let with = |metric: &str, outcome: Option<&str>| -> Vec<&Value> {
        metrics
            .iter()
            .filter(|line| line.get(metric).is_some() && outcome.is_none_or(|o| line["Outcome"] == o))
            .collect()
    };
    assert_eq!(with("Accepted", None).len(), 3, "{metrics:?}");
    let sent_lines = with("Sent", Some("sent"));
    let attempts: Vec<f64> = sent_lines.iter().filter_map(|line| line["Attempts"].as_f64()).collect();
    assert_eq!(attempts, [1.0, 3.0], "one Sent line per sent message, with its attempts: {metrics:?}");
    let failed_lines = with("Failed", Some("permanent_error"));
    assert_eq!(failed_lines.len(), 1, "{metrics:?}");
    assert_eq!(failed_lines[0]["Attempts"], 1.0);
    assert_eq!(with("Retried", Some("transient_error")).len(), 2, "two retries of the third message: {metrics:?}");
    for line in &metrics {
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Outbox", "{line}");
        assert!(line["_aws"]["Timestamp"].as_i64().is_some(), "{line}");
    }
    for line in sent_lines.iter().chain(&failed_lines) {
        assert_eq!(line["Provider"], "sandbox");
        assert!(line["ProviderLatency"].as_f64().is_some_and(|ms| ms >= 0.0), "{line}");
    }
    assert!(sent_lines.iter().all(|line| line["EndToEnd"].as_f64().is_some_and(|ms| ms >= 0.0)));
    // The retried message waited ~1 s and ~2 s between its attempts.
    assert!(sent_lines[1]["EndToEnd"].as_f64().is_some_and(|ms| ms >= 2_000.0), "{}", sent_lines[1]);
}
