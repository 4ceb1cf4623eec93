//! X-Ray subsegments for the calls an invocation makes (AWS SDK, provider), sent as UDP documents
//! to the daemon Lambda runs beside the function when its tracing is Active; nothing otherwise.

use std::future::Future;
use std::net::{ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// The variable Lambda sets to the daemon's address when the function's tracing is Active.
pub const DAEMON_ADDRESS_VARIABLE: &str = "AWS_XRAY_DAEMON_ADDRESS";
/// Every UDP document starts with this line (the daemon's framing).
const HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";
/// The daemon takes one datagram of at most 64 KB; a larger document is dropped, never split.
const MAX_DOCUMENT_BYTES: usize = 64 * 1000;
/// The longest text field recorded (a URL, a table name, a request id), so a document stays small.
const MAX_FIELD_BYTES: usize = 1024;

/// The daemon's UDP socket, opened once per process.
#[derive(Debug)]
pub struct Daemon {
    socket: UdpSocket,
}

impl Daemon {
    /// The daemon named by `AWS_XRAY_DAEMON_ADDRESS`, or `None` when it is unset (the local stack,
    /// PassThrough deployments) or unusable (logged once, at cold start).
    pub fn from_env() -> Option<Arc<Daemon>> {
        Daemon::from_address(&std::env::var(DAEMON_ADDRESS_VARIABLE).ok()?)
    }

    /// `host:port`, or the `udp:host:port tcp:host:port` form the X-Ray SDKs also accept.
    pub fn from_address(address: &str) -> Option<Arc<Daemon>> {
        let udp = address
            .split_whitespace()
            .find_map(|part| part.strip_prefix("udp:"))
            .or_else(|| address.split_whitespace().find(|part| !part.contains("tcp:")))?;
        match Daemon::open(udp) {
            Ok(daemon) => Some(Arc::new(daemon)),
            Err(err) => {
                tracing::warn!(address = udp, error = %err, "the X-Ray daemon address is unusable; no subsegments are sent");
                None
            }
        }
    }

    fn open(address: &str) -> std::io::Result<Daemon> {
        let target = address
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))?;
        let local = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        let socket = UdpSocket::bind(local)?;
        socket.connect(target)?;
        // A full socket buffer drops the document instead of stalling the invocation.
        socket.set_nonblocking(true)?;
        Ok(Daemon { socket })
    }

    /// Fire and forget: a failure is logged at debug, once per process, and the call goes on.
    fn send(&self, document: &[u8]) {
        static REPORTED: AtomicBool = AtomicBool::new(false);
        if let Err(err) = self.socket.send(document) {
            if !REPORTED.swap(true, Ordering::Relaxed) {
                tracing::debug!(error = %err, "an X-Ray document could not be sent (reported once)");
            }
        }
    }
}

/// The sampled invocation's trace: its root and the Lambda function segment the subsegments hang under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: String,
    pub parent_id: String,
}

impl TraceContext {
    /// From `Root=1-…;Parent=…;Sampled=1` (Lambda's `_X_AMZN_TRACE_ID`, `Context::xray_trace_id`);
    /// `None` unless sampled, with a well-formed root and parent.
    pub fn from_header(header: &str) -> Option<TraceContext> {
        let (mut root, mut parent, mut sampled) = (None, None, false);
        for field in header.split(';') {
            match field.trim().split_once('=') {
                Some(("Root", value)) => root = Some(value),
                Some(("Parent", value)) => parent = Some(value),
                Some(("Sampled", value)) => sampled = value == "1",
                _ => {}
            }
        }
        let (root, parent) = (root?, parent?);
        (sampled && is_trace_id(root) && is_hex(parent, 16))
            .then(|| TraceContext { trace_id: root.to_string(), parent_id: parent.to_string() })
    }
}

/// `1-` + 8 hex digits (epoch seconds) + `-` + 24 hex digits.
fn is_trace_id(id: &str) -> bool {
    let mut parts = id.split('-');
    parts.next() == Some("1")
        && parts.next().is_some_and(|time| is_hex(time, 8))
        && parts.next().is_some_and(|random| is_hex(random, 24))
        && parts.next().is_none()
}

fn is_hex(text: &str, length: usize) -> bool {
    text.len() == length && text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Where subsegments go during one sampled invocation.
#[derive(Debug)]
pub struct Recorder {
    trace: TraceContext,
    daemon: Arc<Daemon>,
}

tokio::task_local! {
    /// Per invocation, not a process variable: the calls read the context of the invocation they
    /// belong to, whatever else the process runs.
    static CURRENT: Arc<Recorder>;
}

/// Runs `invocation` with its trace as the context its calls record under, when there is a
/// daemon and `trace_header` says the invocation is sampled; otherwise runs it as it is.
pub async fn in_invocation<F: Future>(
    daemon: Option<&Arc<Daemon>>,
    trace_header: Option<&str>,
    invocation: F,
) -> F::Output {
    match (daemon, trace_header.and_then(TraceContext::from_header)) {
        (Some(daemon), Some(trace)) => {
            CURRENT.scope(Arc::new(Recorder { trace, daemon: Arc::clone(daemon) }), invocation).await
        }
        _ => invocation.await,
    }
}

/// The recorder of the invocation this task runs, if it is traced.
pub fn current() -> Option<Arc<Recorder>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// Seconds since the epoch, as X-Ray's `start_time` and `end_time` want them.
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|since| since.as_secs_f64()).unwrap_or_default()
}

/// One finished call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Call {
    /// The service (`DynamoDB`) or the remote host.
    pub name: String,
    pub namespace: Namespace,
    pub start_time: f64,
    pub end_time: f64,
    /// The answer's status; `None` when none came (a connection or timeout failure: a fault).
    pub status: Option<u16>,
    /// The answer said "slow down" in its own words (DynamoDB's 400 `ProvisionedThroughputExceededException`).
    pub throttled: bool,
    /// `aws` for an SDK call.
    pub aws: Option<AwsCall>,
    /// `http.request` for a provider call.
    pub request: Option<HttpRequest>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Namespace {
    #[default]
    Aws,
    Remote,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AwsCall {
    pub operation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub retries: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HttpRequest {
    pub method: String,
    /// Never a query string, credentials or anything the caller did not choose to show.
    pub url: String,
}

/// The subsegment document X-Ray takes for `Call`.
#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    trace_id: &'a str,
    parent_id: &'a str,
    name: &'a str,
    namespace: Namespace,
    start_time: f64,
    end_time: f64,
    /// A 4xx answer (throttles included).
    error: bool,
    /// 429: the service or provider asked us to slow down.
    throttle: bool,
    /// A 5xx answer, or none at all.
    fault: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<DocumentHttp<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aws: Option<&'a AwsCall>,
}

#[derive(Serialize)]
struct DocumentHttp<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<&'a HttpRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<DocumentResponse>,
}

#[derive(Serialize)]
struct DocumentResponse {
    status: u16,
}

impl Recorder {
    /// Sends `call` as a subsegment of the invocation's function segment.
    pub fn record(&self, call: &Call) {
        if let Some(document) = self.document(call) {
            self.daemon.send(&document);
        }
    }

    /// The datagram (header line and JSON), or `None` if it would not fit in one.
    fn document(&self, call: &Call) -> Option<Vec<u8>> {
        let status = call.status;
        let document = Document {
            kind: "subsegment",
            id: format!("{:016x}", fastrand::u64(1..)),
            trace_id: &self.trace.trace_id,
            parent_id: &self.trace.parent_id,
            name: &call.name,
            namespace: call.namespace,
            start_time: call.start_time,
            end_time: call.end_time.max(call.start_time),
            error: status.is_some_and(|s| (400..500).contains(&s)),
            throttle: status == Some(429) || call.throttled,
            fault: status.is_none_or(|s| s >= 500),
            http: (call.request.is_some() || status.is_some()).then(|| DocumentHttp {
                request: call.request.as_ref(),
                response: status.map(|status| DocumentResponse { status }),
            }),
            aws: call.aws.as_ref(),
        };
        let mut bytes = HEADER.as_bytes().to_vec();
        serde_json::to_writer(&mut bytes, &document).ok()?;
        if bytes.len() > MAX_DOCUMENT_BYTES {
            tracing::debug!(bytes = bytes.len(), "an X-Ray document is larger than a datagram; dropped");
            return None;
        }
        Some(bytes)
    }
}

/// `text` cut to `MAX_FIELD_BYTES` at a character boundary.
pub fn bounded(text: &str) -> String {
    let mut end = text.len().min(MAX_FIELD_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Which part of a provider's URL a subsegment shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlShown {
    /// Scheme, host, port and path: the path names nothing secret (the Graph API's phone number id).
    Path,
    /// Scheme, host and port: a user's endpoint may carry a credential in its path.
    Origin,
}

/// The URL as recorded: never credentials, a query string or a fragment.
fn shown_url(url: &url::Url, shown: UrlShown) -> String {
    let origin = url.origin().ascii_serialization();
    bounded(&match shown {
        UrlShown::Path => format!("{origin}{}", url.path()),
        UrlShown::Origin => origin,
    })
}

/// Sends a provider's request, recording it as a `remote` subsegment when the invocation is traced.
pub async fn send_remote(request: reqwest::RequestBuilder, shown: UrlShown) -> reqwest::Result<reqwest::Response> {
    let Some(recorder) = current() else {
        return request.send().await;
    };
    let (client, request) = request.build_split();
    let request = request?;
    let name = bounded(request.url().host_str().unwrap_or("provider"));
    let http = HttpRequest { method: request.method().to_string(), url: shown_url(request.url(), shown) };
    let start_time = now();
    let result = client.execute(request).await;
    recorder.record(&Call {
        name,
        namespace: Namespace::Remote,
        start_time,
        end_time: now(),
        status: result.as_ref().ok().map(|response| response.status().as_u16()),
        throttled: false,
        aws: None,
        request: Some(http),
    });
    result
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use serde_json::Value;

    use super::*;

    pub const TRACE_ID: &str = "1-5759e988-bd862e3fe1be46a994272793";
    pub const PARENT_ID: &str = "53995c3f42cd8ad8";

    pub fn sampled_header() -> String {
        format!("Root={TRACE_ID};Parent={PARENT_ID};Sampled=1")
    }

    /// A UDP socket on loopback standing in for the daemon.
    pub struct FakeDaemon {
        socket: tokio::net::UdpSocket,
        pub address: SocketAddr,
    }

    impl FakeDaemon {
        pub async fn start() -> FakeDaemon {
            let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("a free port");
            let address = socket.local_addr().expect("bound");
            FakeDaemon { socket, address }
        }

        pub fn daemon(&self) -> Arc<Daemon> {
            Daemon::from_address(&self.address.to_string()).expect("a loopback daemon")
        }

        /// The documents that arrive within `wait` of each other, header line checked and removed.
        pub async fn documents(&self, wait: Duration) -> Vec<Value> {
            let mut documents = Vec::new();
            let mut buffer = vec![0u8; 65_536];
            while let Ok(Ok(length)) = tokio::time::timeout(wait, self.socket.recv(&mut buffer)).await {
                let text = std::str::from_utf8(&buffer[..length]).expect("UTF-8");
                let body = text.strip_prefix(HEADER).unwrap_or_else(|| panic!("no header line: {text}"));
                documents.push(serde_json::from_str(body).expect("a JSON document"));
            }
            documents
        }
    }

    /// Checks what every subsegment carries: its trace, its parent, a fresh id, a time span.
    pub fn assert_subsegment_of_the_invocation(document: &Value) {
        assert_eq!(document["type"], "subsegment", "{document}");
        assert_eq!(document["trace_id"], TRACE_ID, "{document}");
        assert_eq!(document["parent_id"], PARENT_ID, "{document}");
        let id = document["id"].as_str().expect("an id");
        assert!(is_hex(id, 16), "{document}");
        let (start, end) =
            (document["start_time"].as_f64().expect("start"), document["end_time"].as_f64().expect("end"));
        assert!(start > 1.7e9 && start <= end, "{document}");
    }

    #[test]
    fn only_a_sampled_well_formed_header_is_a_trace() {
        assert_eq!(
            TraceContext::from_header(&sampled_header()),
            Some(TraceContext { trace_id: TRACE_ID.into(), parent_id: PARENT_ID.into() })
        );
        // Lambda's order and a Lineage field do not matter.
        let reordered = format!("Parent={PARENT_ID};Sampled=1;Root={TRACE_ID};Lineage=a87bd80c:0");
        assert!(TraceContext::from_header(&reordered).is_some());
        for header in [
            format!("Root={TRACE_ID};Parent={PARENT_ID};Sampled=0"),
            format!("Root={TRACE_ID};Parent={PARENT_ID}"),
            format!("Root={TRACE_ID};Sampled=1"),
            format!("Root=1-5759e988-bd86;Parent={PARENT_ID};Sampled=1"),
            format!("Root={TRACE_ID};Parent=53995c3f42cd8a\"z;Sampled=1"),
            String::new(),
        ] {
            assert_eq!(TraceContext::from_header(&header), None, "{header}");
        }
    }

    #[test]
    fn the_daemon_address_takes_both_forms() {
        assert!(Daemon::from_address("127.0.0.1:2000").is_some());
        assert!(Daemon::from_address("tcp:127.0.0.1:2000 udp:127.0.0.1:2001").is_some());
        assert!(Daemon::from_address("not an address").is_none());
        assert!(Daemon::from_address("").is_none());
    }

    #[test]
    fn flags_follow_the_status_and_documents_fit_a_datagram() {
        let recorder = Recorder {
            trace: TraceContext::from_header(&sampled_header()).expect("sampled"),
            daemon: Daemon::from_address("127.0.0.1:9").expect("a socket"),
        };
        let flags = |status: Option<u16>| {
            let call = Call { name: "DynamoDB".into(), start_time: 1.8e9, end_time: 1.8e9, status, ..Call::default() };
            let bytes = recorder.document(&call).expect("small");
            let document: Value = serde_json::from_slice(&bytes[HEADER.len()..]).expect("JSON");
            (document["error"].as_bool(), document["throttle"].as_bool(), document["fault"].as_bool())
        };
        let (no, yes) = (Some(false), Some(true));
        assert_eq!(flags(Some(200)), (no, no, no));
        assert_eq!(flags(Some(400)), (yes, no, no));
        assert_eq!(flags(Some(429)), (yes, yes, no));
        assert_eq!(flags(Some(503)), (no, no, yes));
        assert_eq!(flags(None), (no, no, yes));
        // Fields are bounded, so even a call with every field at its longest fits.
        let long = bounded(&"é".repeat(100_000));
        assert!(long.len() <= MAX_FIELD_BYTES);
        let aws = AwsCall {
            operation: long.clone(),
            region: Some(long.clone()),
            request_id: Some(long.clone()),
            retries: 2,
            table_name: Some(long.clone()),
            queue_url: Some(long.clone()),
        };
        let request = HttpRequest { method: long.clone(), url: long.clone() };
        let call = Call { name: long, aws: Some(aws), request: Some(request), status: Some(200), ..Call::default() };
        assert!(recorder.document(&call).expect("fits").len() < MAX_DOCUMENT_BYTES);
    }

    #[test]
    fn urls_lose_credentials_query_and_fragment() {
        let url =
            url::Url::parse("https://user:pass@hooks.example.com:8443/T0/B0/secret?token=abc#frag").expect("a URL");
        assert_eq!(shown_url(&url, UrlShown::Path), "https://hooks.example.com:8443/T0/B0/secret");
        assert_eq!(shown_url(&url, UrlShown::Origin), "https://hooks.example.com:8443");
    }

    #[tokio::test]
    async fn calls_record_only_inside_a_sampled_invocation_with_a_daemon() {
        let fake = FakeDaemon::start().await;
        let daemon = fake.daemon();
        let call =
            Call { name: "SQS".into(), start_time: now(), end_time: now(), status: Some(200), ..Call::default() };
        let record = || {
            if let Some(recorder) = current() {
                recorder.record(&call);
            }
        };
        record();
        in_invocation(Some(&daemon), Some(&sampled_header().replace("Sampled=1", "Sampled=0")), async { record() })
            .await;
        in_invocation(Some(&daemon), None, async { record() }).await;
        in_invocation(None, Some(&sampled_header()), async { record() }).await;
        assert!(fake.documents(Duration::from_millis(300)).await.is_empty());
        in_invocation(Some(&daemon), Some(&sampled_header()), async { record() }).await;
        let documents = fake.documents(Duration::from_secs(2)).await;
        assert_eq!(documents.len(), 1, "{documents:?}");
        assert_subsegment_of_the_invocation(&documents[0]);
        assert_eq!(documents[0]["namespace"], "aws");
    }
}
