//! The one error type every domain parser returns (a machine code, a fix-it message and the field
//! at fault), and the checks more than one parser shares.

/// Which HTTP status family the edge should map the error to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidationErrorKind {
    /// 400: the request is malformed or breaks a rule.
    BadRequest,
    /// 413: the request is well formed but carries too much data.
    PayloadTooLarge,
}

/// A rejected client input, ready to be rendered as `{"code", "message", "field"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    pub kind: ValidationErrorKind,
    /// snake_case, e.g. "invalid_chat_id".
    pub code: &'static str,
    /// Says what is wrong and how to fix it.
    pub message: String,
    /// JSON path of the field at fault, e.g. "media.type" or "poll.pollOptions[1]".
    pub field: Option<String>,
}

impl ValidationError {
    pub fn bad_request(code: &'static str, field: Option<&str>, message: impl Into<String>) -> Self {
        Self::new(ValidationErrorKind::BadRequest, code, field, message)
    }

    pub fn payload_too_large(code: &'static str, field: Option<&str>, message: impl Into<String>) -> Self {
        Self::new(ValidationErrorKind::PayloadTooLarge, code, field, message)
    }

    /// The `missing_field` error for a required field that is absent or blank.
    pub fn missing_field(field: &str) -> Self {
        Self::bad_request("missing_field", Some(field), format!("{field} is required; add it to the request body"))
    }

    /// `field` may hold at most `max` characters: bounds what a request can store.
    pub fn check_length(value: &str, field: &str, max: usize) -> Result<(), ValidationError> {
        // Byte length bounds the char count, so short values skip the count.
        if value.len() <= max || value.chars().count() <= max {
            return Ok(());
        }
        Err(Self::bad_request("too_long", Some(field), format!("{field} is longer than {max} characters")))
    }

    /// The same error for a dialect that calls `from` `to`: the field, and the message that starts with it.
    pub fn renamed(mut self, from: &str, to: &str) -> Self {
        if let Some(field) = &self.field {
            let renamed = match field.strip_prefix(from) {
                Some(rest) if rest.is_empty() || rest.starts_with(['.', '[']) => Some(format!("{to}{rest}")),
                _ => None,
            };
            if let Some(renamed) = renamed {
                if let Some(rest) = self.message.strip_prefix(field.as_str()) {
                    self.message = format!("{renamed}{rest}");
                }
                self.field = Some(renamed);
            }
        }
        self
    }

    fn new(kind: ValidationErrorKind, code: &'static str, field: Option<&str>, message: impl Into<String>) -> Self {
        Self { kind, code, message: message.into(), field: field.map(str::to_owned) }
    }
}

/// An absolute URL of one of `schemes` with a non-empty host, parsed once by the `url` crate.
/// White space and control characters anywhere are refused (the crate would percent-encode them),
/// and so is an empty authority (`https:///a`, which the crate would read as host `a`).
pub fn parse_web_url(raw: &str, schemes: &[&str]) -> Option<url::Url> {
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (scheme, rest) = raw.split_once(':')?;
    let authority = rest.strip_prefix("//")?;
    if authority.is_empty() || authority.starts_with('/') || !schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        return None;
    }
    let url = url::Url::parse(raw).ok()?;
    url.host_str().is_some_and(|host| !host.is_empty()).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_urls_need_one_of_the_given_schemes_and_a_host() {
        // media.rs tests the https-only rules case by case; here, the schemes and the authority.
        let both = ["http", "https"];
        assert!(parse_web_url("http://127.0.0.1:9/hook", &both).is_some());
        assert!(parse_web_url("http://127.0.0.1:9/hook", &["https"]).is_none());
        assert!(parse_web_url("HTTPS://example.com/a?b#c", &both).is_some());
        for bad in ["https:example.com", "https:///a", "ftp://example.com", "https://exa mple.com"] {
            assert!(parse_web_url(bad, &both).is_none(), "{bad}");
        }
    }

    #[test]
    fn constructors_set_kind_code_and_field() {
        let e = ValidationError::bad_request("invalid_chat_id", Some("chat_id"), "bad");
        assert_eq!(
            (e.kind, e.code, e.field.as_deref()),
            (ValidationErrorKind::BadRequest, "invalid_chat_id", Some("chat_id"))
        );
        let e = ValidationError::payload_too_large("media_too_large", None, "big");
        assert_eq!((e.kind, e.field), (ValidationErrorKind::PayloadTooLarge, None));
    }

    #[test]
    fn a_renamed_field_keeps_its_path_and_message() {
        let e = ValidationError::bad_request("message_too_long", Some("message"), "message is 5000 characters long")
            .renamed("message", "text");
        assert_eq!((e.field.as_deref(), e.message.as_str()), (Some("text"), "text is 5000 characters long"));
        let e = ValidationError::bad_request("too_long", Some("reply_to"), "reply_to is longer than 512 characters")
            .renamed("message", "text");
        assert_eq!(e.field.as_deref(), Some("reply_to"));
        let e = ValidationError::bad_request("too_long", Some("messages[0]"), "x").renamed("message", "text");
        assert_eq!(e.field.as_deref(), Some("messages[0]"));
    }

    #[test]
    fn missing_field_names_the_field_and_displays_the_message() {
        let e = ValidationError::missing_field("media.filename");
        assert_eq!((e.code, e.field.as_deref()), ("missing_field", Some("media.filename")));
        assert_eq!(e.to_string(), "media.filename is required; add it to the request body");
    }
}
