//! The wire shapes of the request bodies, exactly as Periskope clients send them (every field
//! optional, unknown fields ignored), and the JSON decoding that names a mistyped field's path,
//! which the other dialects' bodies use too. Nothing here is validated: `send`, `content` and
//! `broadcast` turn these into domain types.

use std::collections::BTreeMap;

use std::cell::Cell;

use serde::Deserialize;

use super::media::{Base64Decoded, MediaKind};

use super::validation::ValidationError;

/// The raw body of POST /v1/message/send (field names exactly as in seed 000).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(expecting = "a JSON object")]
pub struct SendRequest {
    pub chat_id: Option<String>,
    pub message: Option<String>,
    pub media: Option<RawMedia>,
    pub poll: Option<RawPoll>,
    pub reply_to: Option<String>,
    pub options: Option<RawOptions>,
    /// RFC 3339; no delivery before it. Absent, or in the past, means now.
    pub scheduled_at: Option<String>,
}

/// The raw body of POST /v1/message/broadcast.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(expecting = "a JSON object")]
pub struct BroadcastRequest {
    pub chat_ids: Option<Vec<String>>,
    pub message: Option<String>,
    pub media: Option<RawMedia>,
    pub poll: Option<RawPoll>,
    pub reply_to: Option<String>,
    pub options: Option<RawOptions>,
    pub scheduled_at: Option<String>,
    /// Seconds between consecutive deliveries.
    pub delay: Option<f64>,
    pub variables: Option<Vec<RawVariables>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(expecting = "an object with type, filename, mimetype and url, filedata or upload_id")]
pub struct RawMedia {
    #[serde(rename = "type")]
    pub r#type: Option<String>,
    pub url: Option<String>,
    pub filedata: Option<Filedata>,
    /// An Outbox extension: a file staged with `POST /v1/media/uploads` or `/v1/assets/upload`.
    pub upload_id: Option<String>,
    pub filename: Option<String>,
    pub mimetype: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(expecting = "an object with pollName and pollOptions")]
pub struct RawPoll {
    #[serde(rename = "pollName")]
    pub poll_name: Option<String>,
    #[serde(rename = "pollOptions")]
    pub poll_options: Option<Vec<String>>,
    pub options: Option<RawPollOptions>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(expecting = "an object with allowMultipleAnswers and pollId")]
pub struct RawPollOptions {
    #[serde(rename = "allowMultipleAnswers")]
    pub allow_multiple_answers: Option<bool>,
    #[serde(rename = "pollId")]
    pub poll_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(expecting = "an object with hide_url_preview")]
pub struct RawOptions {
    pub hide_url_preview: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(expecting = "an object with chat_id and values")]
pub struct RawVariables {
    pub chat_id: Option<String>,
    pub values: Option<BTreeMap<String, serde_json::Value>>,
}

impl SendRequest {
    /// Decodes a JSON body, naming the field path of any value of the wrong type.
    pub fn from_json(body: &[u8]) -> Result<SendRequest, ValidationError> {
        decode_json(body)
    }

    /// As `from_json`, taking the body: inline media is decoded over the body's own buffer, which
    /// becomes the file (a 6 MiB request then holds one copy of its media, not three).
    pub fn from_body(body: Vec<u8>) -> Result<SendRequest, ValidationError> {
        decode_json_in_place(body, |request: &mut SendRequest| request.media.as_mut()?.filedata.as_mut())
    }
}

impl BroadcastRequest {
    pub fn from_json(body: &[u8]) -> Result<BroadcastRequest, ValidationError> {
        decode_json(body)
    }

    /// As `SendRequest::from_body`.
    pub fn from_body(body: Vec<u8>) -> Result<BroadcastRequest, ValidationError> {
        decode_json_in_place(body, |request: &mut BroadcastRequest| request.media.as_mut()?.filedata.as_mut())
    }
}

/// `media.filedata`: base64 text as given, or (through `from_body`) already decoded in the
/// request's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filedata(FiledataRepr);

#[derive(Debug, Clone, PartialEq, Eq)]
enum FiledataRepr {
    Text(String),
    /// The address and length of the JSON string in the body `decode_json_in_place` is reading;
    /// it resolves this before it returns, so no other code sees it.
    InBody {
        address: usize,
        len: usize,
    },
    Decoded(Base64Decoded),
}

impl Filedata {
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            FiledataRepr::Text(text) => text.is_empty(),
            FiledataRepr::InBody { len, .. } => *len == 0,
            FiledataRepr::Decoded(_) => false,
        }
    }

    /// The file, or the 4xx for `field`: over `kind`'s limit, or not base64.
    pub fn decode(self, field: &str, kind: MediaKind) -> Result<Vec<u8>, ValidationError> {
        match self.0 {
            FiledataRepr::Text(text) => Base64Decoded::of_text(&text, Some(kind)),
            FiledataRepr::Decoded(decoded) => decoded,
            // Unreachable through `from_body`, which resolves every span; refused rather than trusted.
            FiledataRepr::InBody { .. } => Base64Decoded::of_text("", Some(kind)),
        }
        .into_bytes(field, Some(kind))
    }

    /// Decodes a span found in `body` over `body`; text (or a span outside `body`) stays as it is.
    fn decode_from(&mut self, body: Vec<u8>) {
        if let FiledataRepr::InBody { address, len } = self.0 {
            if len == 0 {
                self.0 = FiledataRepr::Text(String::new());
                return;
            }
            let start = address.checked_sub(body.as_ptr() as usize);
            let text = start.map(|start| start..start + len).filter(|span| span.end <= body.len());
            self.0 = match text {
                Some(text) => FiledataRepr::Decoded(Base64Decoded::in_place(body, text)),
                None => FiledataRepr::Text(String::new()),
            };
        }
    }
}

impl From<String> for Filedata {
    fn from(text: String) -> Self {
        Filedata(FiledataRepr::Text(text))
    }
}

impl From<&str> for Filedata {
    fn from(text: &str) -> Self {
        Filedata(FiledataRepr::Text(text.to_owned()))
    }
}

thread_local! {
    /// Set while `decode_json_in_place` reads a body: a `filedata` string is then recorded as its
    /// span in the body instead of being copied.
    static FILEDATA_IN_BODY: Cell<bool> = const { Cell::new(false) };
}

impl<'de> Deserialize<'de> for Filedata {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> serde::de::Visitor<'de> for Text {
            type Value = Filedata;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a string")
            }

            fn visit_borrowed_str<E: serde::de::Error>(self, text: &'de str) -> Result<Filedata, E> {
                if FILEDATA_IN_BODY.get() {
                    Ok(Filedata(FiledataRepr::InBody { address: text.as_ptr() as usize, len: text.len() }))
                } else {
                    Ok(Filedata::from(text))
                }
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Filedata, E> {
                Ok(Filedata::from(text))
            }

            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Filedata, E> {
                Ok(Filedata::from(text))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

/// Decodes `body` into `T` as `decode_json` does, then the `filedata` that `media_of` finds, over
/// the body. The body is read once; a `filedata` with JSON escapes in it is copied, as before.
fn decode_json_in_place<T: serde::de::DeserializeOwned>(
    body: Vec<u8>,
    media_of: impl FnOnce(&mut T) -> Option<&mut Filedata>,
) -> Result<T, ValidationError> {
    FILEDATA_IN_BODY.set(true);
    let request = decode_json::<T>(&body);
    FILEDATA_IN_BODY.set(false);
    let mut request = request?;
    if let Some(filedata) = media_of(&mut request) {
        filedata.decode_from(body);
    }
    Ok(request)
}

/// Decodes a JSON body into `T`, naming the field path of any value of the wrong type.
pub fn decode_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ValidationError> {
    decode_json_like(body, EXAMPLE_BODY)
}

/// As `decode_json`, with `example` as the body an `invalid_json` error suggests.
pub fn decode_json_like<T: serde::de::DeserializeOwned>(body: &[u8], example: &str) -> Result<T, ValidationError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let request = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        json_error(e.into_inner(), (path != ".").then_some(path), example)
    })?;
    // Trailing bytes after the object make the body invalid JSON, not a valid prefix.
    de.end().map_err(|e| json_error(e, None, example))?;
    Ok(request)
}

const EXAMPLE_BODY: &str = r#"{"chat_id": "919537851844", "message": "Hello"}"#;

/// Bad syntax or a non-object body is `invalid_json`; a wrongly typed field is `invalid_type`.
fn json_error(e: serde_json::Error, field: Option<String>, example: &str) -> ValidationError {
    // serde_json appends the position; keep it only for syntax errors, where it helps find the typo.
    let position = format!(" at line {} column {}", e.line(), e.column());
    let full = e.to_string();
    let detail = full.strip_suffix(&position).unwrap_or(&full);
    match (e.classify(), field) {
        (serde_json::error::Category::Data, Some(field)) => {
            let problem = match detail.strip_prefix("invalid type: ") {
                Some(types) => format!("has the wrong type: got {types}"),
                None => format!("is invalid: {detail}"),
            };
            ValidationError::bad_request("invalid_type", Some(&field), format!("{field} {problem}"))
        }
        (serde_json::error::Category::Data, None) => ValidationError::bad_request(
            "invalid_json",
            None,
            format!("the body must be a JSON object like {example} ({detail})"),
        ),
        _ => ValidationError::bad_request(
            "invalid_json",
            None,
            format!("the body is not valid JSON ({full}); send a JSON object like {example}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    fn inline(filedata: &str) -> String {
        format!(r#"{{"chat_id": "1", "media": {{"type": "image", "filedata": "{filedata}"}}}}"#)
    }

    fn decoded(request: SendRequest) -> Result<Vec<u8>, ValidationError> {
        let filedata = request.media.and_then(|m| m.filedata).expect("filedata");
        filedata.decode("media.filedata", MediaKind::Image)
    }

    #[test]
    fn from_body_decodes_over_the_body_and_agrees_with_from_json() {
        let file: Vec<u8> = (0..30_000u32).map(|i| (i % 253) as u8).collect();
        // Plain, with JSON escapes (copied, as serde_json must unescape it), and not base64.
        for filedata in [STANDARD.encode(&file), STANDARD.encode(&file).replace('/', "\\/"), "%%%".into()] {
            let body = inline(&filedata);
            let in_place = decoded(SendRequest::from_body(body.clone().into_bytes()).expect("json"));
            assert_eq!(in_place, decoded(SendRequest::from_json(body.as_bytes()).expect("json")));
            if filedata != "%%%" {
                assert_eq!(in_place.expect("valid"), file);
            }
        }
        assert!(!FILEDATA_IN_BODY.get(), "the flag is cleared after a body");
        let empty = SendRequest::from_body(inline("").into_bytes()).expect("json");
        assert!(empty.media.and_then(|m| m.filedata).is_some_and(|f| f.is_empty()));
    }

    #[test]
    fn a_mistyped_filedata_is_named_alike_by_both_paths() {
        let body = r#"{"chat_id": "1", "media": {"filedata": 5}}"#;
        let from_body = SendRequest::from_body(body.as_bytes().to_vec()).expect_err("mistyped");
        let from_json = SendRequest::from_json(body.as_bytes()).expect_err("mistyped");
        assert_eq!((from_body.code, from_body.field.as_deref()), ("invalid_type", Some("media.filedata")));
        assert_eq!(from_body.message, from_json.message);
        assert!(from_body.message.contains("expected a string"), "{}", from_body.message);
        assert!(!FILEDATA_IN_BODY.get());
    }
}
