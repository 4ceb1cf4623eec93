//! The wire shapes of the request bodies, exactly as Periskope clients send them (every field
//! optional, unknown fields ignored), and the JSON decoding that names a mistyped field's path,
//! which the other dialects' bodies use too. Nothing here is validated: `send`, `content` and
//! `broadcast` turn these into domain types.

use std::collections::BTreeMap;

use serde::Deserialize;

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
    pub filedata: Option<String>,
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
}

impl BroadcastRequest {
    pub fn from_json(body: &[u8]) -> Result<BroadcastRequest, ValidationError> {
        decode_json(body)
    }
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
