//! Reading a request's whole body before answering, as API Gateway does: a route that answers
//! early (a 413 past the body limit, a 401) would otherwise close the connection while the client
//! is still sending, and clients that write the whole body before reading (Python's `requests`,
//! `urllib`) see a broken pipe instead of the answer.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use tokio::sync::mpsc;

/// API Gateway's payload limit: past it, the rest is not read and the connection closes.
pub const MAX_DRAINED_BYTES: usize = 10 * 1024 * 1024;
/// How long the rest of a body the route did not read may take to arrive.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Middleware: the route reads the body through a channel; what it leaves unread is read and
/// discarded (up to `MAX_DRAINED_BYTES` in all, within `DRAIN_TIME`) before the answer goes out.
pub async fn read_whole_body(request: Request, next: Next) -> Response {
    let (parts, incoming) = request.into_parts();
    let (tx, rx) = mpsc::channel::<Result<Bytes, axum::Error>>(1);
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) });
    let answer = next.run(Request::from_parts(parts, Body::from_stream(chunks)));
    let (response, ()) = tokio::join!(answer, pump(incoming, tx));
    response
}

/// Forwards the body to the route while it reads; once it stops (its end of the channel is
/// dropped), discards the rest within the bounds.
async fn pump(incoming: Body, tx: mpsc::Sender<Result<Bytes, axum::Error>>) {
    let mut stream = incoming.into_data_stream();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let failed = chunk.is_err();
        seen += chunk.as_ref().map_or(0, Bytes::len);
        if failed || tx.send(chunk).await.is_err() {
            break;
        }
    }
    drop(tx);
    let discard = async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len();
            if seen > MAX_DRAINED_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
}
