//! The body of POST /v1/message/send: its Periskope wire shape and its validation into a `ValidatedMessage`.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::chat_id::ChatId;
use super::media::Media;
use super::poll::Poll;
use super::validation::ValidationError;

/// A message id to reply to is short; the bound keeps records small.
pub const MAX_REPLY_TO_CHARS: usize = 512;

/// WhatsApp's limit on a text message or caption, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;

/// The raw body of POST /v1/message/send, as a Periskope client sends it (field names exactly as in seed 000).
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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(expecting = "an object with type, filename, mimetype and url or filedata")]
pub struct RawMedia {
    #[serde(rename = "type")]
    pub r#type: Option<String>,
    pub url: Option<String>,
    pub filedata: Option<String>,
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

/// A send request that passed every rule; handlers only ever see this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedMessage {
    pub chat_id: ChatId,
    pub text: Option<String>,
    pub media: Option<Media>,
    pub poll: Option<Poll>,
    pub reply_to: Option<String>,
    pub hide_url_preview: bool,
    /// Not delivered before this; `None` means as soon as possible.
    pub scheduled_at: Option<DateTime<Utc>>,
}

impl SendRequest {
    /// Decodes a JSON body, naming the field path of any value of the wrong type.
    pub fn from_json(body: &[u8]) -> Result<SendRequest, ValidationError> {
        decode_json(body)
    }

    /// Applies the rules in the contract's order; the first broken rule is the error.
    pub fn validate(self) -> Result<ValidatedMessage, ValidationError> {
        let raw_chat_id = self.chat_id.ok_or_else(|| ValidationError::missing_field("chat_id"))?;
        let chat_id = ChatId::parse(&raw_chat_id)?;
        let text = self.message.filter(|m| !m.is_empty());
        if text.is_none() && self.media.is_none() && self.poll.is_none() {
            return Err(ValidationError::bad_request(
                "empty_message",
                None,
                "nothing to send; give a message, media or poll (or several)",
            ));
        }
        if let Some(text) = &text {
            check_text_length(text)?;
        }
        let media = self.media.map(Media::parse).transpose()?;
        let poll = self.poll.map(Poll::parse).transpose()?;
        if let Some(reply_to) = &self.reply_to {
            ValidationError::check_length(reply_to, "reply_to", MAX_REPLY_TO_CHARS)?;
        }
        if self.reply_to.as_deref().is_some_and(|r| r.trim().is_empty()) {
            return Err(ValidationError::bad_request(
                "invalid_reply_to",
                Some("reply_to"),
                "reply_to must be the message_id of the message to reply to; \
                 leave it out to send a plain message",
            ));
        }
        let hide_url_preview = self.options.and_then(|o| o.hide_url_preview).unwrap_or(false);
        let scheduled_at = parse_schedule(self.scheduled_at.as_deref(), Utc::now())?;
        Ok(ValidatedMessage { chat_id, text, media, poll, reply_to: self.reply_to, hide_url_preview, scheduled_at })
    }
}

/// Decodes and validates a POST /v1/message/send body in one step.
pub fn parse_send_request(body: &[u8]) -> Result<ValidatedMessage, ValidationError> {
    SendRequest::from_json(body)?.validate()
}

/// Decodes a JSON body into `T`, naming the field path of any value of the wrong type.
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ValidationError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let request = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        json_error(e.into_inner(), (path != ".").then_some(path))
    })?;
    // Trailing bytes after the object make the body invalid JSON, not a valid prefix.
    de.end().map_err(|e| json_error(e, None))?;
    Ok(request)
}

/// How far ahead a message may be scheduled.
pub const MAX_SCHEDULE_AHEAD_DAYS: i64 = 30;

/// A `scheduled_at` in RFC 3339, at most 30 days ahead; a time already past means "now" (`None`).
pub fn parse_schedule(raw: Option<&str>, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, ValidationError> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else { return Ok(None) };
    let at = DateTime::parse_from_rfc3339(raw).map(|at| at.with_timezone(&Utc)).map_err(|_| {
        ValidationError::bad_request(
            "invalid_scheduled_at",
            Some("scheduled_at"),
            format!("scheduled_at {raw:?} is not an RFC 3339 time such as 2026-12-24T18:00:00Z"),
        )
    })?;
    if at > now + chrono::Duration::days(MAX_SCHEDULE_AHEAD_DAYS) {
        return Err(ValidationError::bad_request(
            "invalid_scheduled_at",
            Some("scheduled_at"),
            format!("scheduled_at may be at most {MAX_SCHEDULE_AHEAD_DAYS} days ahead"),
        ));
    }
    Ok((at > now).then_some(at))
}

pub(crate) fn check_text_length(text: &str) -> Result<(), ValidationError> {
    // Byte length bounds the char count, so short texts skip the O(n) count.
    if text.len() <= MAX_TEXT_CHARS {
        return Ok(());
    }
    let chars = text.chars().count();
    if chars <= MAX_TEXT_CHARS {
        return Ok(());
    }
    Err(ValidationError::bad_request(
        "message_too_long",
        Some("message"),
        format!(
            "message is {chars} characters long, over the limit of {MAX_TEXT_CHARS}; \
             shorten it or split it into several messages"
        ),
    ))
}

const EXAMPLE_BODY: &str = r#"{"chat_id": "919537851844", "message": "Hello"}"#;

/// Bad syntax or a non-object body is `invalid_json`; a wrongly typed field is `invalid_type`.
fn json_error(e: serde_json::Error, field: Option<String>) -> ValidationError {
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
            format!("the body must be a JSON object like {EXAMPLE_BODY} ({detail})"),
        ),
        _ => ValidationError::bad_request(
            "invalid_json",
            None,
            format!("the body is not valid JSON ({full}); send a JSON object like {EXAMPLE_BODY}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::media::{MediaKind, MediaSource};
    use crate::domain::validation::ValidationErrorKind;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn parse(body: Value) -> Result<ValidatedMessage, ValidationError> {
        parse_send_request(body.to_string().as_bytes())
    }

    fn url_media() -> Value {
        json!({"type": "image", "url": "https://e.com/a", "filename": "a", "mimetype": "image/png"})
    }

    #[track_caller]
    fn assert_rejects(body: Value, code: &str, field: Option<&str>) -> ValidationError {
        let err = parse(body).expect_err("should be rejected");
        assert_eq!((err.code, err.field.as_deref()), (code, field), "{}", err.message);
        err
    }

    #[track_caller]
    fn assert_raw_rejects(body: &str, code: &str, field: Option<&str>) -> ValidationError {
        let err = parse_send_request(body.as_bytes()).expect_err(body);
        assert_eq!(
            (err.kind.clone(), err.code, err.field.as_deref()),
            (ValidationErrorKind::BadRequest, code, field),
            "{body}: {}",
            err.message
        );
        err
    }

    #[test]
    fn seed_example_is_accepted() {
        let msg = parse(json!({"chat_id": "919537851844@c.us", "message": "Hello World"})).expect("valid");
        assert_eq!(
            msg,
            ValidatedMessage {
                chat_id: ChatId::parse("919537851844").expect("valid"),
                text: Some("Hello World".into()),
                media: None,
                poll: None,
                reply_to: None,
                hide_url_preview: false,
                scheduled_at: None,
            }
        );
    }

    #[test]
    fn bare_digits_chat_id_is_normalised() {
        let msg = parse(json!({"chat_id": "919537851844", "message": "hi"})).expect("valid");
        assert_eq!(msg.chat_id.as_str(), "919537851844@c.us");
    }

    #[test]
    fn group_chat_ids_are_accepted() {
        for id in ["120363025246125486@g.us", "919876543210-1598392874@g.us"] {
            assert_eq!(parse(json!({"chat_id": id, "message": "hi"})).expect(id).chat_id.as_str(), id);
        }
    }

    #[test]
    fn chat_id_is_required_and_checked_first() {
        let err = assert_rejects(json!({}), "missing_field", Some("chat_id"));
        assert_eq!(err.kind, ValidationErrorKind::BadRequest);
        assert_rejects(json!({"chat_id": null, "message": "x".repeat(5000)}), "missing_field", Some("chat_id"));
        for bad in ["abc", "+1555", "1555@s.whatsapp.net", "@g.us", ""] {
            assert_rejects(json!({"chat_id": bad}), "invalid_chat_id", Some("chat_id"));
        }
    }

    #[test]
    fn something_to_send_is_required() {
        for body in [
            json!({"chat_id": "15550000001"}),
            json!({"chat_id": "15550000001", "message": ""}),
            json!({"chat_id": "15550000001", "message": null, "reply_to": "x"}),
        ] {
            let err = assert_rejects(body, "empty_message", None);
            assert!(["message", "media", "poll"].iter().all(|f| err.message.contains(f)), "{}", err.message);
        }
    }

    #[test]
    fn empty_message_with_media_becomes_none() {
        let body = json!({"chat_id": "15550000001", "message": "", "media": url_media()});
        let msg = parse(body).expect("valid");
        assert_eq!(msg.text, None);
        assert_eq!(msg.media.expect("media").source, MediaSource::Url("https://e.com/a".into()));
    }

    #[test]
    fn message_limit_counts_characters_not_bytes() {
        let at_limit = "é".repeat(MAX_TEXT_CHARS);
        assert_eq!(
            parse(json!({"chat_id": "15550000001", "message": at_limit})).expect("at limit").text.as_deref(),
            Some(at_limit.as_str())
        );
        let err = assert_rejects(
            json!({"chat_id": "15550000001", "message": "é".repeat(MAX_TEXT_CHARS + 1)}),
            "message_too_long",
            Some("message"),
        );
        assert!(err.message.contains("4097") && err.message.contains("4096"), "{}", err.message);
    }

    #[test]
    fn media_rules_apply_through_the_request() {
        let media = |m: Value| json!({"chat_id": "15550000001", "media": m});
        assert_rejects(
            media(json!({"url": "https://e.com/a", "filename": "a", "mimetype": "image/png"})),
            "missing_field",
            Some("media.type"),
        );
        assert_rejects(
            media(json!({"type": "gif", "url": "https://e.com/a", "filename": "a", "mimetype": "image/png"})),
            "invalid_media_type",
            Some("media.type"),
        );
        assert_rejects(
            media(json!({"type": "image", "url": "https://e.com/a", "mimetype": "image/png"})),
            "missing_field",
            Some("media.filename"),
        );
        assert_rejects(
            media(json!({"type": "image", "url": "https://e.com/a", "filename": "a", "mimetype": ""})),
            "missing_field",
            Some("media.mimetype"),
        );
        assert_rejects(
            media(json!({"type": "image", "url": "https://e.com/a", "filename": "a", "mimetype": "png"})),
            "invalid_mimetype",
            Some("media.mimetype"),
        );
        assert_rejects(
            media(json!({"type": "image", "url": "https://e.com/a", "filedata": "aGk=",
                       "filename": "a", "mimetype": "image/png"})),
            "invalid_media_source",
            Some("media"),
        );
        assert_rejects(
            media(json!({"type": "image", "filename": "a", "mimetype": "image/png"})),
            "invalid_media_source",
            Some("media"),
        );
        assert_rejects(
            media(json!({"type": "image", "url": "http://e.com/a", "filename": "a", "mimetype": "image/png"})),
            "invalid_media_url",
            Some("media.url"),
        );
        assert_rejects(
            media(json!({"type": "image", "filedata": "%%%", "filename": "a", "mimetype": "image/png"})),
            "invalid_base64",
            Some("media.filedata"),
        );
        let pdf = json!({"type": "document", "filedata": "data:application/pdf;base64,JVBE\nRi0=",
                         "filename": "a.pdf", "mimetype": "application/pdf"});
        let msg = parse(media(pdf)).expect("valid");
        let doc = msg.media.expect("media");
        assert_eq!((doc.kind, doc.source), (MediaKind::Document, MediaSource::Inline(b"%PDF-".to_vec())));
    }

    #[test]
    fn oversized_media_is_payload_too_large() {
        let filedata = "A".repeat((MediaKind::Image.max_bytes() + 3) / 3 * 4);
        let media = json!({"type": "image", "filedata": filedata, "filename": "a", "mimetype": "image/png"});
        let err = parse(json!({"chat_id": "15550000001", "media": media})).expect_err("too large");
        assert_eq!(
            (err.kind, err.code, err.field.as_deref()),
            (ValidationErrorKind::PayloadTooLarge, "media_too_large", Some("media.filedata"))
        );
    }

    #[test]
    fn poll_rules_apply_through_the_request() {
        let poll = |p: Value| json!({"chat_id": "15550000001", "poll": p});
        let lunch = json!({"pollName": "Lunch?", "pollOptions": ["Pizza", "Sushi"],
                           "options": {"allowMultipleAnswers": true, "pollId": "p1"}});
        let msg = parse(poll(lunch)).expect("valid");
        let parsed = msg.poll.expect("poll");
        assert_eq!(
            (parsed.name.as_str(), parsed.options.len(), parsed.allow_multiple_answers, parsed.poll_id.as_deref()),
            ("Lunch?", 2, true, Some("p1"))
        );
        assert_rejects(poll(json!({"pollOptions": ["a", "b"]})), "invalid_poll", Some("poll.pollName"));
        assert_rejects(poll(json!({"pollName": "q", "pollOptions": ["a"]})), "invalid_poll", Some("poll.pollOptions"));
        assert_rejects(
            poll(json!({"pollName": "q", "pollOptions": ["a", "b", "a"]})),
            "invalid_poll",
            Some("poll.pollOptions[2]"),
        );
    }

    #[test]
    fn reply_to_must_not_be_blank() {
        assert_rejects(
            json!({"chat_id": "15550000001", "message": "hi", "reply_to": " "}),
            "invalid_reply_to",
            Some("reply_to"),
        );
        let msg = parse(json!({"chat_id": "15550000001", "message": "hi", "reply_to": "true_1555@c.us_3EB0"}))
            .expect("valid");
        assert_eq!(msg.reply_to.as_deref(), Some("true_1555@c.us_3EB0"));
    }

    #[test]
    fn hide_url_preview_defaults_to_false() {
        let base = json!({"chat_id": "15550000001", "message": "https://example.com"});
        assert!(!parse(base.clone()).expect("valid").hide_url_preview);
        let mut with = base;
        with["options"] = json!({"hide_url_preview": true});
        assert!(parse(with).expect("valid").hide_url_preview);
    }

    #[test]
    fn first_error_wins_in_contract_order() {
        let everything_wrong = json!({
            "chat_id": "+1555", "message": "x".repeat(5000), "reply_to": "",
            "media": {"type": "gif"}, "poll": {"pollName": ""},
        });
        assert_rejects(everything_wrong.clone(), "invalid_chat_id", Some("chat_id"));
        let mut body = everything_wrong;
        body["chat_id"] = json!("15550000001");
        assert_rejects(body.clone(), "message_too_long", Some("message"));
        body["message"] = json!("hi");
        assert_rejects(body.clone(), "invalid_media_type", Some("media.type"));
        body["media"] = url_media();
        assert_rejects(body.clone(), "invalid_poll", Some("poll.pollName"));
        body["poll"] = json!({"pollName": "q", "pollOptions": ["a", "b"]});
        assert_rejects(body, "invalid_reply_to", Some("reply_to"));
    }

    #[test]
    fn wrong_types_name_the_field_path_and_expected_type() {
        let err = assert_raw_rejects(r#"{"chat_id": 5}"#, "invalid_type", Some("chat_id"));
        assert!(err.message.contains("a string") && !err.message.contains("line"), "{}", err.message);
        let err = assert_raw_rejects(r#"{"chat_id":"1555000000","message": true}"#, "invalid_type", Some("message"));
        assert!(err.message.contains("a string"), "{}", err.message);
        assert_raw_rejects(
            r#"{"chat_id":"1555000000","poll":{"pollName":"q","pollOptions":[1,2]}}"#,
            "invalid_type",
            Some("poll.pollOptions[0]"),
        );
        assert_raw_rejects(
            r#"{"chat_id":"1555000000","media":{"filename":7}}"#,
            "invalid_type",
            Some("media.filename"),
        );
        let err = assert_raw_rejects(
            r#"{"chat_id":"1555000000","options":{"hide_url_preview":"yes"}}"#,
            "invalid_type",
            Some("options.hide_url_preview"),
        );
        assert!(err.message.contains("a boolean"), "{}", err.message);
        let err = assert_raw_rejects(
            r#"{"chat_id":"1555000000","media":"https://e.com/a.jpg"}"#,
            "invalid_type",
            Some("media"),
        );
        assert!(err.message.contains("an object"), "{}", err.message);
    }

    #[test]
    fn malformed_or_non_object_bodies_are_invalid_json() {
        for body in [
            "[]",
            "\"x\"",
            "{",
            "",
            "null",
            "42",
            r#"{"chat_id":"15550000001","message":"hi"} trailing"#,
            r#"{"chat_id":"1","chat_id":"2"}"#,
            "\u{feff}{}",
        ] {
            assert_raw_rejects(body, "invalid_json", None);
        }
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let msg = parse(json!({
            "chat_id": "15550000001", "message": "hi", "extra": {"deep": [1, 2]},
            "options": {"hide_url_preview": true, "mentions": []},
            "poll": {"pollName": "q", "pollOptions": ["a", "b"], "colour": "red", "options": {"x": 1}},
            "media": {"type": "audio", "url": "https://e.com/a.ogg", "filename": "a.ogg",
                      "mimetype": "audio/ogg; codecs=opus", "caption": "c"},
        }))
        .expect("valid");
        assert!(msg.hide_url_preview && msg.poll.is_some() && msg.media.is_some());
    }

    /// JSON values built from the request's own field names, so fuzzing reaches the validators.
    fn json_value() -> impl Strategy<Value = Value> {
        let keys = prop::sample::select(vec![
            "chat_id",
            "message",
            "media",
            "poll",
            "reply_to",
            "options",
            "type",
            "url",
            "filedata",
            "filename",
            "mimetype",
            "pollName",
            "pollOptions",
            "allowMultipleAnswers",
            "pollId",
            "hide_url_preview",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            prop::sample::select(vec![
                "",
                "15550000001",
                "120363025246125486@g.us",
                "image",
                "https://e.com/a",
                "aGk=",
                "image/png",
                "é",
                " "
            ])
            .prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(keys.clone().prop_map(str::to_owned), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_send_request(&body);
        }

        #[test]
        fn never_panics_on_json_ish_strings(body in r#"[{}\[\]":,. 0-9a-zA-Z_@+=/\\-]{0,200}"#) {
            let _ = parse_send_request(body.as_bytes());
        }

        #[test]
        fn never_panics_on_structured_json(body in json_value()) {
            let _ = parse(body);
        }

        #[test]
        fn valid_text_round_trips(
            digits in "[0-9]{5,15}",
            text in prop::collection::vec(any::<char>(), 1..=MAX_TEXT_CHARS).prop_map(String::from_iter),
        ) {
            let msg = parse(json!({"chat_id": digits, "message": text})).expect("valid request");
            prop_assert_eq!(msg.chat_id.as_str(), format!("{digits}@c.us"));
            prop_assert_eq!(msg.text, Some(text));
        }
    }

    #[test]
    fn scheduled_at_is_rfc3339_at_most_30_days_ahead_and_the_past_means_now() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let ahead = parse_schedule(Some("2026-01-02T10:00:00+02:00"), now).unwrap().unwrap();
        assert_eq!(ahead.to_rfc3339(), "2026-01-02T08:00:00+00:00");
        assert_eq!(parse_schedule(Some("2025-12-31T00:00:00Z"), now).unwrap(), None);
        assert_eq!(parse_schedule(None, now).unwrap(), None);
        for bad in ["tomorrow", "2026-02-01T00:00:01Z"] {
            let err = parse_schedule(Some(bad), now).unwrap_err();
            assert_eq!((err.code, err.field.as_deref()), ("invalid_scheduled_at", Some("scheduled_at")), "{bad}");
        }
    }

    #[test]
    fn free_text_fields_are_bounded_so_a_record_stays_small() {
        let long = "r".repeat(100_000);
        let cases = [
            (json!({"chat_id": "15550100001", "message": "hi", "reply_to": long}), "reply_to"),
            (
                json!({"chat_id": "15550100001", "media": {"type": "image", "filename": long, "mimetype": "image/png", "url": "https://x.test/a"}}),
                "media.filename",
            ),
            (
                json!({"chat_id": "15550100001", "media": {"type": "image", "filename": "a", "mimetype": format!("image/png; x={long}"), "url": "https://x.test/a"}}),
                "media.mimetype",
            ),
            (
                json!({"chat_id": "15550100001", "media": {"type": "image", "filename": "a", "mimetype": "image/png", "url": format!("https://x.test/{long}")}}),
                "media.url",
            ),
            (json!({"chat_id": "15550100001", "poll": {"pollName": long, "pollOptions": ["a", "b"]}}), "poll.pollName"),
            (
                json!({"chat_id": "15550100001", "poll": {"pollName": "q", "pollOptions": ["a", long]}}),
                "poll.pollOptions[1]",
            ),
            (
                json!({"chat_id": "15550100001", "poll": {"pollName": "q", "pollOptions": ["a", "b"], "options": {"pollId": long}}}),
                "poll.options.pollId",
            ),
        ];
        for (body, field) in cases {
            let err = parse(body).unwrap_err();
            assert_eq!((err.code, err.field.as_deref()), ("too_long", Some(field)));
        }
    }
}
