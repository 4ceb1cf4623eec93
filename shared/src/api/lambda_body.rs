//! The API function's request bodies, taken out of the Lambda event instead of copied out of it.
//!
//! `lambda_http` deserializes each API Gateway event into its request type, an untagged enum (serde
//! first buffers the whole event in its own tree), with `serde_json` unescaping the body into a
//! scratch buffer and a `String`, and then copies that string into the request. For an inline media
//! send near the 6 MiB limit, that held the body about four times over on top of the event
//! `lambda_runtime` had read: a 6.3 MB request took the function from 14 MB to 40 MB.
//!
//! [`LambdaBodies::layer`] goes outermost on the runtime, where the event is still the buffer
//! `lambda_runtime` read it into. It finds the body (a JSON string, the event's top-level `body`),
//! unescapes it in place in that buffer, and hands `lambda_http` a small copy of the rest of the
//! event with `"body":null`. The function's handler then puts the body back on the request
//! ([`LambdaBodies::restore`]), found by the invocation's request id. The body is never copied: the
//! request's body is the event's own buffer, and the handler reads it as one frame.
//!
//! A body API Gateway base64-encoded (what it takes for binary: a multipart upload) is decoded in
//! place the same way (by the media decoder's `decode_chunks_in_place`), where `lambda_http` would
//! have decoded it into a new buffer. An event with no body, or that is not such an event, goes to
//! `lambda_http` as it came.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::{Buf as _, Bytes, BytesMut};
use lambda_runtime::LambdaInvocation;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::domain::media::decode_chunks_in_place;

/// The bodies taken out of the events in flight, by request id: one at a time in a Lambda
/// process, more with managed concurrency.
#[derive(Clone, Debug, Default)]
pub struct LambdaBodies {
    taken: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl LambdaBodies {
    pub fn new() -> Self {
        Self::default()
    }

    /// The runtime layer that takes the bodies out of the events.
    pub fn layer(&self) -> LambdaBodyLayer {
        LambdaBodyLayer { bodies: self.clone() }
    }

    /// The body taken out of invocation `request_id`'s event, if it was.
    pub fn restore(&self, request_id: &str) -> Option<Vec<u8>> {
        self.lock().remove(request_id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        self.taken.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Clone, Debug)]
pub struct LambdaBodyLayer {
    bodies: LambdaBodies,
}

impl<S> tower::Layer<S> for LambdaBodyLayer {
    type Service = LambdaBodyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LambdaBodyService { inner, bodies: self.bodies.clone() }
    }
}

#[derive(Clone, Debug)]
pub struct LambdaBodyService<S> {
    inner: S,
    bodies: LambdaBodies,
}

impl<S> tower::Service<LambdaInvocation> for LambdaBodyService<S>
where
    S: tower::Service<LambdaInvocation, Response = ()>,
    S::Future: 'static,
{
    type Response = ();
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<(), S::Error>>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        let request_id = invocation.context.request_id.clone();
        let (event, body) = take_body(std::mem::take(&mut invocation.body));
        invocation.body = event;
        if let Some(body) = body {
            self.bodies.lock().insert(request_id.clone(), body);
        }
        let answered = self.inner.call(invocation);
        let taken = Taken { bodies: self.bodies.clone(), request_id };
        Box::pin(async move {
            let _taken = taken;
            answered.await
        })
    }
}

/// Drops, with the invocation, a body its handler did not take (lambda_http could not read the
/// rest of the event, or the invocation was cancelled).
struct Taken {
    bodies: LambdaBodies,
    request_id: String,
}

impl Drop for Taken {
    fn drop(&mut self) {
        self.bodies.restore(&self.request_id);
    }
}

/// The parts of an API Gateway event this looks at; serde_json skips the rest without copying.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    body: Option<&'a RawValue>,
    #[serde(rename = "isBase64Encoded", default)]
    is_base64_encoded: bool,
}

/// `event` with its body replaced by `null`, and the body, unescaped (and decoded, if base64); or
/// `event` as it came, and no body, when it has no body string to take.
pub fn take_body(event: Bytes) -> (Bytes, Option<Vec<u8>>) {
    let Some((start, end, base64)) = body_span(&event) else {
        return (event, None);
    };
    let mut rest = Vec::with_capacity(event.len() - (end - start) + 4);
    rest.extend_from_slice(&event[..start]);
    rest.extend_from_slice(b"null");
    rest.extend_from_slice(&event[end..]);
    // The string's contents, between its quotes, in the event's own buffer when nothing else holds
    // it (an event read in several frames, as any large one is); else copied once.
    let mut body = match event.try_into_mut() {
        Ok(mut buffer) => {
            buffer.truncate(end - 1);
            buffer.advance(start + 1);
            buffer
        }
        Err(shared) => BytesMut::from(&shared[start + 1..end - 1]),
    };
    let length = unescape_in_place(&mut body);
    body.truncate(length);
    if base64 {
        let text = 0..body.len();
        let decoded = decode_chunks_in_place(&mut body, text).unwrap_or_else(|_| {
            // API Gateway's base64 always decodes; lambda_http would have panicked on this.
            tracing::warn!("the event's base64 body does not decode; the request goes on without a body");
            0
        });
        body.truncate(decoded);
    }
    (Bytes::from(rest), Some(Vec::from(body)))
}

/// Where the event's `body` string is (its quotes included), if it has one, and whether it is
/// base64.
fn body_span(event: &[u8]) -> Option<(usize, usize, bool)> {
    let envelope: Envelope<'_> = serde_json::from_slice(event).ok()?;
    let raw = envelope.body?.get();
    if !raw.starts_with('"') {
        return None;
    }
    // The raw value borrows from `event`: its offset is where it starts.
    let start = raw.as_ptr() as usize - event.as_ptr() as usize;
    Some((start, start + raw.len(), envelope.is_base64_encoded))
}

/// Unescapes the contents of a JSON string (RFC 8259 §7, as serde_json has already checked them)
/// in place, returning the unescaped length; every escape is at least as long as what it stands
/// for. A lone surrogate (`\ud800` without its pair), which is not a character, becomes U+FFFD.
fn unescape_in_place(text: &mut [u8]) -> usize {
    let (mut read, mut write) = (0, 0);
    while read < text.len() {
        // Runs without escapes move as a block.
        let run = text[read..].iter().position(|&byte| byte == b'\\').unwrap_or(text.len() - read);
        if write != read {
            text.copy_within(read..read + run, write);
        }
        (read, write) = (read + run, write + run);
        if read == text.len() {
            break;
        }
        let escape = text.get(read + 1).copied().unwrap_or(b'\\');
        read += 2;
        let simple = match escape {
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            other => Some(other), // \" \\ \/
        };
        if let Some(byte) = simple {
            text[write] = byte;
            write += 1;
            continue;
        }
        // serde_json has checked that four hex digits follow; were they missing, the escape is dropped.
        let Some(unit) = hex4(text, read) else { continue };
        read += 4;
        let character = match unit {
            0xd800..=0xdbff if text.get(read..read + 2) == Some(b"\\u") => match hex4(text, read + 2) {
                Some(low @ 0xdc00..=0xdfff) => {
                    read += 6;
                    char::from_u32(0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00))
                }
                _ => None,
            },
            unit => char::from_u32(unit),
        }
        .unwrap_or(char::REPLACEMENT_CHARACTER);
        write += character.encode_utf8(&mut text[write..read]).len();
    }
    write
}

/// The four hex digits at `at`, as a number.
fn hex4(text: &[u8], at: usize) -> Option<u32> {
    let digits = std::str::from_utf8(text.get(at..at + 4)?).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn unescaped(escaped: &str) -> String {
        let mut buffer = escaped.as_bytes().to_vec();
        let length = unescape_in_place(&mut buffer);
        buffer.truncate(length);
        String::from_utf8(buffer).expect("unescaping gives UTF-8")
    }

    #[test]
    fn unescapes_every_escape_json_has() {
        assert_eq!(unescaped(r#"a\"b\\c\/d\be\ff\ng\rh\ti"#), "a\"b\\c/d\u{8}e\u{c}f\ng\rh\ti");
        assert_eq!(unescaped(r"caf\u00e9 \u20ac"), "café €");
        assert_eq!(unescaped(r"\ud83d\ude00!"), "😀!");
        assert_eq!(unescaped("plain, and ünïcode"), "plain, and ünïcode");
        assert_eq!(unescaped(""), "");
    }

    #[test]
    fn a_lone_surrogate_becomes_the_replacement_character() {
        assert_eq!(unescaped(r"a\ud800b"), "a\u{fffd}b");
        assert_eq!(unescaped(r"\ud800\u0041"), "\u{fffd}A");
        assert_eq!(unescaped(r"\udc00"), "\u{fffd}");
    }

    proptest! {
        // serde_json's own escaping, undone: the original string again.
        #[test]
        fn undoes_serde_json_escaping(text in "\\PC*|[\\x00-\\x7f]*|[\"\\\\/\\x00-\\x1f]*") {
            let escaped = serde_json::to_string(&text).unwrap();
            prop_assert_eq!(unescaped(&escaped[1..escaped.len() - 1]), text);
        }

        // Escapes serde_json does not write (\/, \uXXXX for any character, pairs for astral ones):
        // what serde_json reads them as.
        #[test]
        fn reads_escapes_as_serde_json_does(characters in proptest::collection::vec(any::<char>(), 0..40)) {
            let escaped: String = characters.iter().map(|&c| match c {
                '/' => r"\/".to_string(),
                c if (c as u32) % 3 == 0 => c.encode_utf16(&mut [0; 2]).iter().map(|unit| format!("\\u{unit:04x}")).collect(),
                '"' => "\\\"".to_string(),
                '\\' => "\\\\".to_string(),
                c if (c as u32) < 0x20 => format!("\\u{:04X}", c as u32),
                c => c.to_string(),
            }).collect();
            let expected: String = serde_json::from_str(&format!("\"{escaped}\"")).unwrap();
            prop_assert_eq!(unescaped(&escaped), expected);
        }
    }

    fn event(body: Value, base64: bool) -> Bytes {
        let mut event: Value =
            serde_json::from_str(include_str!("../../../events/api-send.json")).expect("the shipped event parses");
        event["body"] = body;
        event["isBase64Encoded"] = json!(base64);
        Bytes::from(serde_json::to_vec(&event).unwrap())
    }

    #[test]
    fn takes_the_body_and_leaves_the_rest_of_the_event() {
        let body = json!({"chat_id": "919537851844", "message": "caf\u{e9} \"quoted\" \\ / \n😀"}).to_string();
        let original = event(json!(body), false);
        let (rest, taken) = take_body(original.clone());
        assert_eq!(String::from_utf8(taken.expect("a body is taken")).unwrap(), body);
        let mut expected: Value = serde_json::from_slice(&original).unwrap();
        expected["body"] = Value::Null;
        assert_eq!(serde_json::from_slice::<Value>(&rest).unwrap(), expected);
    }

    #[test]
    fn the_body_stays_in_the_events_own_buffer() {
        let body = "x".repeat(100_000);
        let original = event(json!(body), false);
        let (start, end) = (original.as_ptr() as usize, original.as_ptr() as usize + original.len());
        // Nothing else holds the buffer, as when lambda_runtime has joined an event's frames.
        let (_, taken) = take_body(Bytes::from(Vec::from(original)));
        let taken = taken.expect("a body is taken");
        assert_eq!(taken.len(), body.len());
        let at = taken.as_ptr() as usize;
        assert!(at >= start && at + taken.len() <= end, "the body was copied out of the event");
    }

    #[test]
    fn a_shared_event_is_copied_once_and_left_whole() {
        let original = event(json!("{\"a\":\"\\u00e9\"}"), false);
        let kept = original.clone();
        let (_, taken) = take_body(original);
        assert_eq!(taken.as_deref(), Some("{\"a\":\"\\u00e9\"}".as_bytes()));
        assert!(serde_json::from_slice::<Value>(&kept).is_ok());
    }

    #[test]
    fn a_base64_body_is_decoded_in_place() {
        use base64::Engine as _;
        for size in [0, 1, 2, 3, 3071, 3072, 3073, 100_000] {
            let bytes: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
            let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let original = event(json!(encoded), true);
            let (start, end) = (original.as_ptr() as usize, original.as_ptr() as usize + original.len());
            let (rest, taken) = take_body(Bytes::from(Vec::from(original)));
            let taken = taken.expect("a body is taken");
            assert_eq!(taken, bytes, "{size} bytes");
            let at = taken.as_ptr() as usize;
            assert!(size == 0 || (at >= start && at + taken.len() <= end), "the body was copied out of the event");
            assert_eq!(serde_json::from_slice::<Value>(&rest).unwrap()["body"], Value::Null);
        }
    }

    #[test]
    fn a_body_that_is_not_base64_goes_on_empty() {
        let (_, taken) = take_body(event(json!("not base64!"), true));
        assert_eq!(taken, Some(vec![]));
    }

    #[test]
    fn other_events_go_on_as_they_came() {
        for unchanged in [
            event(Value::Null, false),
            event(json!({"not": "a string"}), false),
            Bytes::from_static(b"{\"Records\":[]}"),
            Bytes::from_static(b"not json"),
        ] {
            let (rest, taken) = take_body(unchanged.clone());
            assert_eq!((rest, taken), (unchanged, None));
        }
    }

    /// Invocation `request_id` of `event`, as lambda_runtime hands it to its layers.
    fn invocation(request_id: &str, event: Bytes) -> LambdaInvocation {
        let mut context = lambda_runtime::Context::default();
        context.request_id = request_id.into();
        LambdaInvocation { parts: http::Response::new(()).into_parts().0, body: event, context }
    }

    #[tokio::test]
    async fn the_handler_finds_the_body_by_request_id_and_nothing_is_left_after() {
        use tower::{Layer, Service, ServiceExt};
        let bodies = LambdaBodies::new();
        let seen = Arc::new(Mutex::new(None));
        let inner = {
            let (bodies, seen) = (bodies.clone(), seen.clone());
            tower::service_fn(move |invocation: LambdaInvocation| {
                let (bodies, seen) = (bodies.clone(), seen.clone());
                async move {
                    let event: Value = serde_json::from_slice(&invocation.body).unwrap();
                    *seen.lock().unwrap() =
                        Some((event["body"].clone(), bodies.restore(&invocation.context.request_id)));
                    Ok::<(), lambda_runtime::Error>(())
                }
            })
        };
        let mut service = bodies.layer().layer(inner);
        let invocation = invocation("req-1", event(json!("{\"message\":\"hi\"}"), false));
        service.ready().await.unwrap().call(invocation).await.unwrap();
        let (event_body, restored) = seen.lock().unwrap().take().unwrap();
        assert_eq!(event_body, Value::Null);
        assert_eq!(restored.as_deref(), Some(b"{\"message\":\"hi\"}".as_slice()));
        assert!(bodies.lock().is_empty());
    }

    #[tokio::test]
    async fn a_body_the_handler_never_took_is_dropped_with_its_invocation() {
        use tower::{Layer, Service, ServiceExt};
        let bodies = LambdaBodies::new();
        let inner = tower::service_fn(|_: LambdaInvocation| async { Ok::<(), lambda_runtime::Error>(()) });
        let mut service = bodies.layer().layer(inner);
        service.ready().await.unwrap().call(invocation("req-2", event(json!("{}"), false))).await.unwrap();
        assert!(bodies.lock().is_empty());
    }
}
