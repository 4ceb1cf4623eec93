//! A counting HTTP proxy in front of the AWS emulator: the SDK's endpoint points here, every
//! request is forwarded unchanged and counted by service and operation, so the AWS requests a
//! path makes are counted on the wire, not estimated.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::task::JoinHandle;

use crate::{lock, loopback_client};

/// Operation name → requests seen.
pub type Counts = BTreeMap<String, u64>;

pub struct CountingProxy {
    pub endpoint: String,
    state: Arc<ProxyState>,
    task: JoinHandle<()>,
}

struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    counts: Mutex<Counts>,
}

/// The largest request forwarded (S3 puts of inline media are at most a few MB).
const MAX_FORWARDED_BYTES: usize = 64 * 1024 * 1024;

impl CountingProxy {
    /// Listens on a free loopback port and forwards to `upstream` (e.g. `http://127.0.0.1:4566`).
    pub async fn start(upstream: &str) -> Result<CountingProxy, String> {
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|err| format!("proxy: cannot bind: {err}"))?;
        let endpoint = format!("http://{}", listener.local_addr().map_err(|err| err.to_string())?);
        let client = loopback_client()?;
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_string(),
            client,
            counts: Mutex::new(Counts::new()),
        });
        let router = Router::new().fallback(forward).with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(CountingProxy { endpoint, state, task })
    }

    pub fn reset(&self) {
        self.lock().clear();
    }

    pub fn snapshot(&self) -> Counts {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        lock(&self.state.counts)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORWARDED_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "proxy: request too large").into_response();
    };
    let operation = operation_name(&parts.method, parts.uri.path(), &parts.headers, &bytes);
    *lock(&state.counts).entry(operation).or_default() += 1;

    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut headers = parts.headers.clone();
    for hop in [header::HOST, header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::CONNECTION] {
        headers.remove(hop);
    }
    let upstream =
        state.client.request(parts.method, format!("{}{path}", state.upstream)).headers(headers).body(bytes).send();
    let answer = match upstream.await {
        Ok(answer) => answer,
        Err(err) => return (StatusCode::BAD_GATEWAY, format!("proxy: upstream failed: {err}")).into_response(),
    };
    let status = answer.status();
    let mut headers = answer.headers().clone();
    for hop in [header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::CONNECTION] {
        headers.remove(hop);
    }
    let body = match answer.bytes().await {
        Ok(body) => body,
        Err(err) => return (StatusCode::BAD_GATEWAY, format!("proxy: upstream body failed: {err}")).into_response(),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// `DynamoDB PutItem`, `SQS SendMessage`, `SQS ReceiveMessage (dlq)`, `S3 PutObject`, ...
pub fn operation_name(method: &http::Method, path: &str, headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let (service, operation) = target.split_once('.').unwrap_or(("?", target));
        let service = match service {
            s if s.starts_with("DynamoDB") => "DynamoDB",
            "AmazonSQS" => "SQS",
            "secretsmanager" => "SecretsManager",
            other => other,
        };
        let on_dlq = service == "SQS"
            && serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|json| json.get("QueueUrl").and_then(|url| url.as_str()).map(|url| url.ends_with("-dlq")))
                .unwrap_or(false);
        return format!("{service} {operation}{}", if on_dlq { " (dlq)" } else { "" });
    }
    // The older query protocol: `Action=...` in a form body.
    if let Some(action) =
        std::str::from_utf8(body).ok().and_then(|form| form.split('&').find_map(|pair| pair.strip_prefix("Action=")))
    {
        return format!("SQS {action}");
    }
    // S3, path-style: `/bucket` or `/bucket/key`.
    let has_key = path.trim_start_matches('/').split_once('/').is_some_and(|(_, key)| !key.is_empty());
    let operation = match (method.as_str(), has_key) {
        ("PUT", true) => "PutObject",
        ("GET", true) => "GetObject",
        ("HEAD", true) => "HeadObject",
        ("DELETE", true) => "DeleteObject",
        ("PUT", false) => "CreateBucket",
        (other, _) => return format!("S3 {other} {path}"),
    };
    format!("S3 {operation}")
}

/// `counts` grouped by service: `DynamoDB` → total.
pub fn by_service(counts: &Counts) -> BTreeMap<String, u64> {
    let mut services = BTreeMap::new();
    for (operation, count) in counts {
        let service = operation.split(' ').next().unwrap_or_default().to_string();
        *services.entry(service).or_default() += count;
    }
    services
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_named_by_target_form_action_or_s3_path() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-target", "DynamoDB_20120810.PutItem".parse().unwrap());
        assert_eq!(operation_name(&http::Method::POST, "/", &headers, b"{}"), "DynamoDB PutItem");
        headers.insert("x-amz-target", "AmazonSQS.ReceiveMessage".parse().unwrap());
        let body = br#"{"QueueUrl":"http://127.0.0.1:1/123/x-dlq"}"#;
        assert_eq!(operation_name(&http::Method::POST, "/", &headers, body), "SQS ReceiveMessage (dlq)");
        let none = HeaderMap::new();
        assert_eq!(operation_name(&http::Method::POST, "/", &none, b"Action=SendMessage&X=1"), "SQS SendMessage");
        assert_eq!(operation_name(&http::Method::PUT, "/bucket/media/a.png", &none, b""), "S3 PutObject");
        assert_eq!(operation_name(&http::Method::PUT, "/bucket", &none, b""), "S3 CreateBucket");
    }
}
