//! A local Lambda Runtime API, just enough for cold starts: a runtime is ready for its first
//! event when it asks `GET /2018-06-01/runtime/invocation/next`, and that moment is recorded.
//! The request is then held open; the bench kills the process.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

/// How long a `next` request is held before the emulator answers 204 itself.
const HOLD: Duration = Duration::from_secs(30);

enum RuntimeEvent {
    /// The runtime asked for its first event.
    Next(Instant),
    /// The runtime reported an initialisation error.
    InitError(String),
}

pub struct RuntimeApi {
    /// `host:port`, as `AWS_LAMBDA_RUNTIME_API` takes it.
    pub address: String,
    events: Mutex<mpsc::UnboundedReceiver<RuntimeEvent>>,
    task: JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> Result<RuntimeApi, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|err| format!("runtime API: cannot bind: {err}"))?;
        let address = listener.local_addr().map_err(|err| err.to_string())?.to_string();
        let (sender, events) = mpsc::unbounded_channel();
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(Arc::new(sender));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(RuntimeApi { address, events: Mutex::new(events), task })
    }

    /// Spawns `command` and returns the time from exec to its first `next` request.
    pub async fn cold_start(&self, mut command: Command, timeout: Duration) -> Result<Duration, String> {
        let mut events = self.events.lock().await;
        while events.try_recv().is_ok() {}
        command
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let started = Instant::now();
        let mut child = command.spawn().map_err(|err| format!("could not start {command:?}: {err}"))?;
        let event = tokio::time::timeout(timeout, events.recv()).await;
        let _ = child.kill();
        let _ = child.wait();
        match event {
            Ok(Some(RuntimeEvent::Next(at))) => Ok(at.saturating_duration_since(started)),
            Ok(Some(RuntimeEvent::InitError(body))) => Err(format!("the runtime reported an init error: {body}")),
            Ok(None) => Err("the runtime API stopped".into()),
            Err(_) => Err(format!("no `next` request within {} s", timeout.as_secs())),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn next(State(sender): State<Arc<mpsc::UnboundedSender<RuntimeEvent>>>) -> StatusCode {
    let _ = sender.send(RuntimeEvent::Next(Instant::now()));
    tokio::time::sleep(HOLD).await;
    StatusCode::NO_CONTENT
}

async fn init_error(State(sender): State<Arc<mpsc::UnboundedSender<RuntimeEvent>>>, body: Bytes) -> StatusCode {
    let _ = sender.send(RuntimeEvent::InitError(String::from_utf8_lossy(&body).into_owned()));
    StatusCode::ACCEPTED
}
