//! POST /v1/message/send: its body validated into a `ValidatedMessage`, a chat id and its content.

use super::chat_id::ChatId;
use super::content::{Content, RawContent};
use super::time::Timestamp;
use super::validation::ValidationError;
use super::wire::SendRequest;

/// A send request that passed every rule; handlers only ever see this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedMessage {
    pub chat_id: ChatId,
    pub content: Content,
}

impl SendRequest {
    /// The chat id, and what is sent to it.
    pub fn into_parts(self) -> (Option<String>, RawContent) {
        let content = RawContent {
            message: self.message,
            media: self.media,
            poll: self.poll,
            reply_to: self.reply_to,
            options: self.options,
            scheduled_at: self.scheduled_at,
            ..RawContent::default()
        };
        (self.chat_id, content)
    }

    /// Applies the rules in the contract's order, the chat id first; the first broken rule is the error.
    pub fn validate(self, now: Timestamp) -> Result<ValidatedMessage, ValidationError> {
        let (chat_id, content) = self.into_parts();
        let raw_chat_id = chat_id.ok_or_else(|| ValidationError::missing_field("chat_id"))?;
        let chat_id = ChatId::parse(&raw_chat_id)?;
        Ok(ValidatedMessage { chat_id, content: Content::validate(content, now)? })
    }
}

/// Decodes and validates a POST /v1/message/send body in one step.
pub fn parse_send_request(body: &[u8], now: Timestamp) -> Result<ValidatedMessage, ValidationError> {
    SendRequest::from_json(body)?.validate(now)
}

/// As `parse_send_request`, taking the body: inline media is decoded over it (`SendRequest::from_body`).
pub fn parse_send_body(body: Vec<u8>, now: Timestamp) -> Result<ValidatedMessage, ValidationError> {
    SendRequest::from_body(body)?.validate(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::limits::MAX_TEXT_CHARS;
    use crate::domain::media::{Attachment, MediaKind, MediaSource};
    use crate::domain::validation::ValidationErrorKind;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn now() -> Timestamp {
        Timestamp::parse("2026-01-01T00:00:00Z").expect("a time")
    }

    fn parse(body: Value) -> Result<ValidatedMessage, ValidationError> {
        parse_send_request(body.to_string().as_bytes(), now())
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
        let err = parse_send_request(body.as_bytes(), now()).expect_err(body);
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
                content: Content {
                    text: Some("Hello World".into()),
                    media: None,
                    poll: None,
                    reply_to: None,
                    hide_url_preview: false,
                    link_preview: Default::default(),
                    scheduled_at: None,
                },
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
        assert_eq!(msg.content.text, None);
        let Some(Attachment::Media(media)) = msg.content.media else { panic!("media expected") };
        assert_eq!(media.source, MediaSource::Url("https://e.com/a".into()));
    }

    #[test]
    fn message_limit_counts_characters_not_bytes() {
        let at_limit = "é".repeat(MAX_TEXT_CHARS);
        assert_eq!(
            parse(json!({"chat_id": "15550000001", "message": at_limit})).expect("at limit").content.text.as_deref(),
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
        let Some(Attachment::Media(doc)) = msg.content.media else { panic!("media expected") };
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
        let parsed = msg.content.poll.expect("poll");
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
        assert_eq!(msg.content.reply_to.as_deref(), Some("true_1555@c.us_3EB0"));
    }

    #[test]
    fn hide_url_preview_defaults_to_false() {
        let base = json!({"chat_id": "15550000001", "message": "https://example.com"});
        assert!(!parse(base.clone()).expect("valid").content.hide_url_preview);
        let mut with = base;
        with["options"] = json!({"hide_url_preview": true});
        assert!(parse(with).expect("valid").content.hide_url_preview);
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
        assert!(msg.content.hide_url_preview && msg.content.poll.is_some() && msg.content.media.is_some());
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
            let _ = parse_send_request(&body, now());
        }

        #[test]
        fn never_panics_on_json_ish_strings(body in r#"[{}\[\]":,. 0-9a-zA-Z_@+=/\\-]{0,200}"#) {
            let _ = parse_send_request(body.as_bytes(), now());
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
            prop_assert_eq!(msg.content.text, Some(text));
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
