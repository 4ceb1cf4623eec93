//! A black-box run: the `outbox-local` binary, as `make run` starts it, driven over plain HTTP.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
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

#[tokio::test(flavor = "multi_thread")]
async fn the_local_runner_sends_a_message_end_to_end_over_http() {
    let port = free_port();
    let prefix = format!("bb{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let _runner = Runner(
        Command::new(local_runner())
            .env("AWS_ENDPOINT_URL", moto_endpoint())
            .env("PORT", port.to_string())
            .env("OUTBOX_LOCAL_PREFIX", &prefix)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
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

    let accepted: Value = http
        .post(format!("{base}/v1/message/send"))
        .header("Authorization", "Bearer local-dev-key")
        .header("x-phone", "15550100000")
        .json(&json!({"chat_id": "919537851844@c.us", "message": "Hi from Periskope"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accepted["status"], "queued", "{accepted}");
    let unique_id = accepted["unique_id"].as_str().unwrap();
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
        if status["status"] == "sent" {
            assert_eq!(status["attempts"], 1);
            break;
        }
        assert!(Instant::now() < deadline, "not sent in time: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
