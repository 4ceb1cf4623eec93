//! A local Lambda Runtime API, just enough for cold starts and for invoking a function: a runtime
//! is ready for its first event when it asks `GET /2018-06-01/runtime/invocation/next`, and that
//! moment is recorded. The request is then held open until `invoke` has an event for it (or the
//! bench kills the process); the function's answer comes back to `invoke`.

use std::collections::{HashMap, VecDeque};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Mutex, Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

/// How long a `next` request is held before the emulator answers 204 itself.
const HOLD: Duration = Duration::from_secs(30);

enum RuntimeEvent {
    /// The runtime asked for its first event.
    Next(Instant),
    /// The runtime reported an initialisation error.
    InitError(String),
}

/// What the routes share: where `next` reports, the invocations waiting for a runtime, and the
/// callers waiting for their answers.
struct Shared {
    sender: mpsc::UnboundedSender<RuntimeEvent>,
    pending: std::sync::Mutex<VecDeque<(String, Bytes)>>,
    arrived: Notify,
    answers: std::sync::Mutex<HashMap<String, oneshot::Sender<Result<Bytes, Bytes>>>>,
}

pub struct RuntimeApi {
    /// `host:port`, as `AWS_LAMBDA_RUNTIME_API` takes it.
    pub address: String,
    events: Mutex<mpsc::UnboundedReceiver<RuntimeEvent>>,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> Result<RuntimeApi, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|err| format!("runtime API: cannot bind: {err}"))?;
        let address = listener.local_addr().map_err(|err| err.to_string())?.to_string();
        let (sender, events) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            sender,
            pending: std::sync::Mutex::new(VecDeque::new()),
            arrived: Notify::new(),
            answers: std::sync::Mutex::new(HashMap::new()),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .layer(DefaultBodyLimit::disable())
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(RuntimeApi { address, events: Mutex::new(events), shared, task })
    }

    /// Hands `event` to the runtime's next `next` request and returns the function's answer
    /// (`Err` with the error body when the function reported an error), within `timeout`.
    pub async fn invoke(&self, event: impl Into<Bytes>, timeout: Duration) -> Result<Bytes, String> {
        let id = format!("bench-{}", fastrand::u64(..));
        let (answer, answered) = oneshot::channel();
        self.shared.answers.lock().expect("lock").insert(id.clone(), answer);
        self.shared.pending.lock().expect("lock").push_back((id, event.into()));
        self.shared.arrived.notify_one();
        match tokio::time::timeout(timeout, answered).await {
            Ok(Ok(Ok(body))) => Ok(body),
            Ok(Ok(Err(body))) => Err(format!("the function reported an error: {}", String::from_utf8_lossy(&body))),
            Ok(Err(_)) => Err("the runtime API stopped".into()),
            Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
        }
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

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let _ = shared.sender.send(RuntimeEvent::Next(Instant::now()));
    let held = tokio::time::timeout(HOLD, async {
        loop {
            let arrived = shared.arrived.notified();
            if let Some(invocation) = shared.pending.lock().expect("lock").pop_front() {
                return invocation;
            }
            arrived.await;
        }
    });
    let Ok((id, event)) = held.await else { return StatusCode::NO_CONTENT.into_response() };
    let deadline_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |now| (now + Duration::from_secs(30)).as_millis());
    let headers = [
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
        ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:000000000000:function:bench".into()),
        ("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0".into()),
        ("content-type", "application/json".into()),
    ];
    (headers, event).into_response()
}

fn answer(shared: &Shared, id: &str, body: Result<Bytes, Bytes>) -> StatusCode {
    match shared.answers.lock().expect("lock").remove(id) {
        Some(waiting) => {
            let _ = waiting.send(body);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn response(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&shared, &id, Ok(body))
}

async fn error(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&shared, &id, Err(body))
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let _ = shared.sender.send(RuntimeEvent::InitError(String::from_utf8_lossy(&body).into_owned()));
    StatusCode::ACCEPTED
}
