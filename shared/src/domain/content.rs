//! What is sent, validated without a chat id: text, media, poll, reply_to, options, link preview
//! and schedule. Every dialect's send and a broadcast validate their content here, in the
//! contract's order.

use std::collections::BTreeMap;

use super::limits::{
    MAX_PREVIEW_FIELDS, MAX_PREVIEW_KEY_CHARS, MAX_PREVIEW_VALUE_CHARS, MAX_REPLY_TO_CHARS, MAX_SCHEDULE_AHEAD,
    MAX_SCHEDULE_AHEAD_DAYS, MAX_TEXT_CHARS,
};
use super::media::{
    Attachment, Media, MediaKind, MediaSource, UploadRef, check_filename, check_mimetype, non_blank, non_empty,
    parse_upload_id, parse_url, required,
};
use super::message::StoredMedia;
use super::poll::Poll;
use super::time::Timestamp;
use super::validation::ValidationError;
use super::wire::{RawMedia, RawOptions, RawPoll};

/// What is sent, as a dialect hands it to the validation core: the wire's fields, and media a
/// dialect may have parsed already. Every dialect's send and a broadcast have it in common.
#[derive(Debug, Clone, Default)]
pub struct RawContent {
    pub message: Option<String>,
    pub media: Option<RawMedia>,
    /// Media a dialect has already turned into an attachment (Beeper's `attachment`); when set,
    /// `media` is not read.
    pub attachment: Option<Attachment>,
    pub poll: Option<RawPoll>,
    pub reply_to: Option<String>,
    pub options: Option<RawOptions>,
    /// Custom link-preview fields (`/v1/send`'s `preview`).
    pub link_preview: Option<BTreeMap<String, String>>,
    pub scheduled_at: Option<String>,
}

/// Content that passed every rule. `M` is the media as validated (an `Attachment`: the media with
/// its bytes, or the upload that holds it), or as staged for a record (`StoredMedia`, a URL or an
/// S3 key) once `with_media` has swapped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content<M = Attachment> {
    pub text: Option<String>,
    pub media: Option<M>,
    pub poll: Option<Poll>,
    pub reply_to: Option<String>,
    pub hide_url_preview: bool,
    /// Custom link-preview fields (`/v1/send`'s `preview`); empty keeps the default preview.
    pub link_preview: BTreeMap<String, String>,
    /// Not delivered before this; `None` means as soon as possible.
    pub scheduled_at: Option<Timestamp>,
}

impl<M> Content<M> {
    /// The same content with its media replaced (by its staged form).
    pub fn with_media<S>(self, media: Option<S>) -> Content<S> {
        Content {
            text: self.text,
            media,
            poll: self.poll,
            reply_to: self.reply_to,
            hide_url_preview: self.hide_url_preview,
            link_preview: self.link_preview,
            scheduled_at: self.scheduled_at,
        }
    }
}

impl Content {
    /// Applies the rules in the contract's order (after the chat id); the first broken rule is the error.
    pub fn validate(raw: RawContent, now: Timestamp) -> Result<Content, ValidationError> {
        let text = raw.message.filter(|m| !m.is_empty());
        if text.is_none() && raw.media.is_none() && raw.attachment.is_none() && raw.poll.is_none() {
            return Err(ValidationError::bad_request(
                "empty_message",
                None,
                "nothing to send; give a message, media or poll (or several)",
            ));
        }
        if let Some(text) = &text {
            check_text_length(text)?;
        }
        let media = match raw.attachment {
            Some(attachment) => Some(attachment),
            None => raw.media.map(Media::parse).transpose()?,
        };
        let poll = raw.poll.map(Poll::parse).transpose()?;
        if let Some(reply_to) = &raw.reply_to {
            ValidationError::check_length(reply_to, "reply_to", MAX_REPLY_TO_CHARS)?;
        }
        if raw.reply_to.as_deref().is_some_and(|r| r.trim().is_empty()) {
            return Err(ValidationError::bad_request(
                "invalid_reply_to",
                Some("reply_to"),
                "reply_to must be the message_id of the message to reply to; \
                 leave it out to send a plain message",
            ));
        }
        let hide_url_preview = raw.options.and_then(|o| o.hide_url_preview).unwrap_or(false);
        let link_preview = check_link_preview(raw.link_preview.unwrap_or_default())?;
        let scheduled_at = parse_schedule(raw.scheduled_at.as_deref(), now)?;
        Ok(Content { text, media, poll, reply_to: raw.reply_to, hide_url_preview, link_preview, scheduled_at })
    }
}

impl Content<StoredMedia> {
    /// The kind as Periskope names it: the media's kind, `poll` or `text`.
    pub fn message_type(&self) -> &'static str {
        match (&self.media, &self.poll) {
            (Some(media), _) => media.kind.as_str(),
            (None, Some(_)) => "poll",
            (None, None) => "text",
        }
    }
}

/// A `scheduled_at` in RFC 3339, at most 30 days ahead; a time already past means "now" (`None`).
pub fn parse_schedule(raw: Option<&str>, now: Timestamp) -> Result<Option<Timestamp>, ValidationError> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else { return Ok(None) };
    let at = Timestamp::parse(raw).ok_or_else(|| {
        ValidationError::bad_request(
            "invalid_scheduled_at",
            Some("scheduled_at"),
            format!("scheduled_at {raw:?} is not an RFC 3339 time such as 2026-12-24T18:00:00Z"),
        )
    })?;
    if at > now.plus(MAX_SCHEDULE_AHEAD) {
        return Err(ValidationError::bad_request(
            "invalid_scheduled_at",
            Some("scheduled_at"),
            format!("scheduled_at may be at most {MAX_SCHEDULE_AHEAD_DAYS} days ahead"),
        ));
    }
    Ok((at > now).then_some(at))
}

/// At most `MAX_PREVIEW_FIELDS` fields with short, non-blank keys and bounded values.
fn check_link_preview(fields: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ValidationError> {
    if fields.len() > MAX_PREVIEW_FIELDS {
        return Err(ValidationError::bad_request(
            "invalid_preview",
            Some("preview"),
            format!("preview has {} fields; at most {MAX_PREVIEW_FIELDS} are kept", fields.len()),
        ));
    }
    for (key, value) in &fields {
        let field = format!("preview.{key}");
        if key.trim().is_empty() {
            return Err(ValidationError::bad_request(
                "invalid_preview",
                Some("preview"),
                "preview's field names must not be blank",
            ));
        }
        ValidationError::check_length(key, &field, MAX_PREVIEW_KEY_CHARS)?;
        ValidationError::check_length(value, &field, MAX_PREVIEW_VALUE_CHARS)?;
    }
    Ok(fields)
}

/// A text or caption of at most `MAX_TEXT_CHARS` characters.
pub fn check_text_length(text: &str) -> Result<(), ValidationError> {
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

// Parsing media lives beside the content that carries it: `media` stays free of the wire
// shapes, which decode base64 through `media` (one direction, no module cycle).
impl Media {
    /// Checks type, filename, mimetype, then the one source, in that order. A `upload_id` instead
    /// of a source names an upload; then `filename` and `mimetype` may be left out.
    pub fn parse(raw: RawMedia) -> Result<Attachment, ValidationError> {
        let kind = MediaKind::parse(&required(raw.r#type, "media.type")?)?;
        if let Some(upload_id) = non_empty(raw.upload_id) {
            if non_empty(raw.url).is_some() || raw.filedata.is_some_and(|f| !f.is_empty()) {
                return Err(ValidationError::bad_request(
                    "invalid_media_source",
                    Some("media"),
                    "give exactly one of media.url, media.filedata or media.upload_id",
                ));
            }
            let filename = non_blank(raw.filename).map(|f| check_filename(f, "media.filename")).transpose()?;
            let mimetype = non_blank(raw.mimetype).map(|m| check_mimetype(m, "media.mimetype")).transpose()?;
            return Ok(Attachment::Upload(UploadRef {
                upload_id: parse_upload_id(&upload_id),
                kind: Some(kind),
                filename,
                mimetype,
                field: "media.upload_id",
            }));
        }
        let filename = check_filename(required(raw.filename, "media.filename")?, "media.filename")?;
        let mimetype = check_mimetype(required(raw.mimetype, "media.mimetype")?, "media.mimetype")?;
        // An empty string is treated as absent, like an empty `message`.
        let source = match (non_empty(raw.url), raw.filedata.filter(|f| !f.is_empty())) {
            (Some(url), None) => MediaSource::Url(parse_url(url, "media.url")?),
            (None, Some(filedata)) => MediaSource::Inline(filedata.decode("media.filedata", kind)?),
            _ => {
                return Err(ValidationError::bad_request(
                    "invalid_media_source",
                    Some("media"),
                    "give exactly one of media.url, media.filedata or media.upload_id",
                ));
            }
        };
        Ok(Attachment::Media(Media { kind, source, filename, mimetype }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_at_is_rfc3339_at_most_30_days_ahead_and_the_past_means_now() {
        let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let ahead = parse_schedule(Some("2026-01-02T10:00:00+02:00"), now).unwrap().unwrap();
        assert_eq!(ahead.to_string(), "2026-01-02T08:00:00.000Z");
        assert_eq!(parse_schedule(Some("2025-12-31T00:00:00Z"), now).unwrap(), None);
        assert_eq!(parse_schedule(None, now).unwrap(), None);
        for bad in ["tomorrow", "2026-01-31T00:00:01Z"] {
            let err = parse_schedule(Some(bad), now).unwrap_err();
            assert_eq!((err.code, err.field.as_deref()), ("invalid_scheduled_at", Some("scheduled_at")), "{bad}");
        }
    }

    #[test]
    fn content_needs_something_to_send_and_knows_its_type() {
        let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let err = Content::validate(RawContent::default(), now).unwrap_err();
        assert_eq!(err.code, "empty_message");
        let text = RawContent { message: Some("hi".into()), ..RawContent::default() };
        assert_eq!(Content::validate(text, now).unwrap().with_media::<StoredMedia>(None).message_type(), "text");
    }

    #[test]
    fn link_preview_fields_are_few_short_and_named() {
        let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let with = |fields: &[(&str, String)]| RawContent {
            message: Some("https://example.com".into()),
            link_preview: Some(fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()),
            ..RawContent::default()
        };
        let ok = Content::validate(with(&[("title", "Example".into())]), now).unwrap();
        assert_eq!(ok.link_preview.get("title").map(String::as_str), Some("Example"));
        let many: Vec<(String, String)> = (0..=MAX_PREVIEW_FIELDS).map(|i| (format!("k{i}"), "v".into())).collect();
        let many: Vec<(&str, String)> = many.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        assert_eq!(Content::validate(with(&many), now).unwrap_err().field.as_deref(), Some("preview"));
        let long = Content::validate(with(&[("image", "x".repeat(MAX_PREVIEW_VALUE_CHARS + 1))]), now).unwrap_err();
        assert_eq!((long.code, long.field.as_deref()), ("too_long", Some("preview.image")));
        let blank = Content::validate(with(&[(" ", "v".into())]), now).unwrap_err();
        assert_eq!(blank.code, "invalid_preview");
    }
}
