//! What is sent, validated without a chat id: text, media, poll, reply_to, options and schedule.
//! A send and a broadcast both validate their content here, in the contract's order.

use super::limits::{MAX_REPLY_TO_CHARS, MAX_SCHEDULE_AHEAD, MAX_SCHEDULE_AHEAD_DAYS, MAX_TEXT_CHARS};
use super::media::Media;
use super::poll::Poll;
use super::time::Timestamp;
use super::validation::ValidationError;
use super::wire::RawContent;

/// Content that passed every rule. `M` is the media as validated (`Media`, with its bytes), or as
/// staged for a record (`StoredMedia`, a URL or an S3 key) once `with_media` has swapped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content<M = Media> {
    pub text: Option<String>,
    pub media: Option<M>,
    pub poll: Option<Poll>,
    pub reply_to: Option<String>,
    pub hide_url_preview: bool,
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
            scheduled_at: self.scheduled_at,
        }
    }
}

impl Content {
    /// Applies the rules in the contract's order (after the chat id); the first broken rule is the error.
    pub fn validate(raw: RawContent, now: Timestamp) -> Result<Content, ValidationError> {
        let text = raw.message.filter(|m| !m.is_empty());
        if text.is_none() && raw.media.is_none() && raw.poll.is_none() {
            return Err(ValidationError::bad_request(
                "empty_message",
                None,
                "nothing to send; give a message, media or poll (or several)",
            ));
        }
        if let Some(text) = &text {
            check_text_length(text)?;
        }
        let media = raw.media.map(Media::parse).transpose()?;
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
        let scheduled_at = parse_schedule(raw.scheduled_at.as_deref(), now)?;
        Ok(Content { text, media, poll, reply_to: raw.reply_to, hide_url_preview, scheduled_at })
    }

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
        assert_eq!(Content::validate(text, now).unwrap().message_type(), "text");
    }
}
