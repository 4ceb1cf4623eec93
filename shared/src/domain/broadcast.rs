//! The body of POST /v1/message/broadcast: one message to many chats, with per-chat variables,
//! a schedule and spacing. Validated all or nothing, before anything is queued.
//!
//! Variables fill `{{name}}` placeholders in `message` (white space inside the braces is allowed;
//! names are letters, digits, `_`, `-` and `.`). A chat whose message has a placeholder without a
//! value is an error, so no one receives a literal `{{name}}`.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::chat_id::ChatId;
use super::content::{Content, RawContent, check_text_length};
use super::limits::{
    DEFAULT_BROADCAST_DELAY, MAX_BROADCAST_CHATS, MAX_BROADCAST_DELAY_SECS, MAX_SCHEDULE_AHEAD, MAX_SCHEDULE_AHEAD_DAYS,
};
use super::time::Timestamp;
use super::validation::ValidationError;
use super::wire::{BroadcastRequest, RawVariables};

/// How many offending entries an error message names.
const NAMED_IN_ERRORS: usize = 20;

/// One chat of a broadcast, with its own rendered text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub chat_id: ChatId,
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedBroadcast {
    /// The shared content (media decoded once, poll, reply_to, options, schedule); its `text` is the template.
    pub content: Content,
    pub recipients: Vec<Recipient>,
    pub delay: Duration,
}

fn invalid(code: &'static str, field: &str, message: String) -> ValidationError {
    ValidationError::bad_request(code, Some(field), message)
}

fn named(entries: &[String]) -> String {
    let shown: Vec<&str> = entries.iter().take(NAMED_IN_ERRORS).map(String::as_str).collect();
    let more = entries.len().saturating_sub(NAMED_IN_ERRORS);
    if more > 0 { format!("{} and {more} more", shown.join(", ")) } else { shown.join(", ") }
}

impl BroadcastRequest {
    /// Every chat id first (all of them named at once), then the content, the delay and the variables.
    pub fn validate(self, now: Timestamp) -> Result<ValidatedBroadcast, ValidationError> {
        let raw_ids = self.chat_ids.ok_or_else(|| ValidationError::missing_field("chat_ids"))?;
        if raw_ids.is_empty() || raw_ids.len() > MAX_BROADCAST_CHATS {
            return Err(invalid(
                "invalid_chat_ids",
                "chat_ids",
                format!("chat_ids must list 1 to {MAX_BROADCAST_CHATS} chats; it lists {}", raw_ids.len()),
            ));
        }
        let (mut chat_ids, mut bad, mut seen, mut duplicates) = (vec![], vec![], HashSet::new(), vec![]);
        for (i, raw) in raw_ids.iter().enumerate() {
            match ChatId::parse(raw) {
                Ok(id) if !seen.insert(id.clone()) => duplicates.push(format!("chat_ids[{i}] {raw:?}")),
                Ok(id) => chat_ids.push(id),
                Err(_) => bad.push(format!("chat_ids[{i}] {raw:?}")),
            }
        }
        if !bad.is_empty() {
            return Err(invalid(
                "invalid_chat_ids",
                "chat_ids",
                format!(
                    "{} {} not valid: use <digits>, <digits>@c.us or a group id ending in @g.us; nothing was queued",
                    named(&bad),
                    if bad.len() == 1 { "is" } else { "are" }
                ),
            ));
        }
        if !duplicates.is_empty() {
            return Err(invalid(
                "duplicate_chat_ids",
                "chat_ids",
                format!("{} repeat earlier chats; list each chat once", named(&duplicates)),
            ));
        }
        let raw = RawContent {
            message: self.message,
            media: self.media,
            poll: self.poll,
            reply_to: self.reply_to,
            options: self.options,
            scheduled_at: self.scheduled_at,
            ..RawContent::default()
        };
        let content = Content::validate(raw, now)?;
        let delay = match self.delay {
            None => DEFAULT_BROADCAST_DELAY,
            Some(secs) if secs.is_finite() && (0.0..=MAX_BROADCAST_DELAY_SECS).contains(&secs) => {
                Duration::from_secs_f64(secs)
            }
            Some(_) => {
                return Err(invalid(
                    "invalid_delay",
                    "delay",
                    format!("delay is the seconds between deliveries, from 0 to {MAX_BROADCAST_DELAY_SECS}"),
                ));
            }
        };
        let values = variables_by_chat(self.variables.unwrap_or_default(), &seen)?;
        let recipients = render(&content, chat_ids, &values)?;
        let broadcast = ValidatedBroadcast { content, recipients, delay };
        check_horizon(&broadcast, now)?;
        Ok(broadcast)
    }
}

impl ValidatedBroadcast {
    /// When the `i`-th chat is due: `scheduled_at` (or `now`) plus `i` delays.
    pub fn due(&self, i: usize, now: Timestamp) -> Timestamp {
        self.content.scheduled_at.unwrap_or(now).plus(self.delay * i as u32)
    }

    /// When the last chat is due.
    pub fn last_due(&self, now: Timestamp) -> Timestamp {
        self.due(self.recipients.len().saturating_sub(1), now)
    }
}

/// The last chat must be due within the schedule horizon, or its record and media would expire
/// before it is sent.
fn check_horizon(broadcast: &ValidatedBroadcast, now: Timestamp) -> Result<(), ValidationError> {
    let last = broadcast.last_due(now);
    if last <= now.plus(MAX_SCHEDULE_AHEAD) {
        return Ok(());
    }
    Err(invalid(
        "invalid_delay",
        "delay",
        format!(
            "the last of the {} chats would be due at {last}, past the limit of {MAX_SCHEDULE_AHEAD_DAYS} days ahead \
             (scheduled_at + delay × (chats - 1)); lower delay or scheduled_at, or split the broadcast",
            broadcast.recipients.len()
        ),
    ))
}

/// Each chat's values, as text.
fn variables_by_chat(
    entries: Vec<RawVariables>,
    chats: &HashSet<ChatId>,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, ValidationError> {
    let mut by_chat = BTreeMap::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let field = format!("variables[{i}].chat_id");
        let raw = entry.chat_id.ok_or_else(|| ValidationError::missing_field(&field))?;
        let chat = ChatId::parse(&raw).map_err(|e| invalid(e.code, &field, e.message))?;
        if !chats.contains(&chat) {
            return Err(invalid("invalid_variables", &field, format!("{raw:?} is not one of chat_ids")));
        }
        let mut values = BTreeMap::new();
        for (name, value) in entry.values.unwrap_or_default() {
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(invalid(
                        "invalid_variables",
                        &format!("variables[{i}].values.{name}"),
                        "a variable's value must be a string, number or boolean".into(),
                    ));
                }
            };
            values.insert(name, text);
        }
        by_chat.insert(chat.as_str().to_string(), values);
    }
    Ok(by_chat)
}

fn render(
    content: &Content,
    chat_ids: Vec<ChatId>,
    values: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<Vec<Recipient>, ValidationError> {
    let empty = BTreeMap::new();
    let (mut recipients, mut missing, mut left_empty) = (Vec::with_capacity(chat_ids.len()), vec![], vec![]);
    for chat_id in chat_ids {
        let text = match &content.text {
            None => None,
            Some(template) => {
                let chat_values = values.get(chat_id.as_str()).unwrap_or(&empty);
                match fill_placeholders(template, chat_values) {
                    Ok(text) => Some(text),
                    Err(name) => {
                        missing.push(format!("{} ({{{{{name}}}}})", chat_id.as_str()));
                        continue;
                    }
                }
            }
        };
        if text.as_deref() == Some("") && content.media.is_none() && content.poll.is_none() {
            left_empty.push(chat_id.as_str().to_string());
            continue;
        }
        if let Some(text) = &text {
            check_text_length(text)
                .map_err(|e| invalid(e.code, "message", format!("for {}: {}", chat_id.as_str(), e.message)))?;
        }
        recipients.push(Recipient { chat_id, text });
    }
    if !left_empty.is_empty() {
        return Err(invalid(
            "empty_message",
            "variables",
            format!(
                "the message is empty once its variables are filled in for {}; nothing would be sent",
                named(&left_empty)
            ),
        ));
    }
    if !missing.is_empty() {
        return Err(invalid(
            "missing_variables",
            "variables",
            format!(
                "no value for a placeholder of the message in {}; add it to that chat's variables",
                named(&missing)
            ),
        ));
    }
    Ok(recipients)
}

/// `template` with every `{{name}}` replaced; `Err(name)` for the first one without a value.
pub fn fill_placeholders(template: &str, values: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else { break };
        let name = rest[start + 2..start + 2 + len].trim();
        let is_name = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
        out.push_str(&rest[..start]);
        if is_name {
            out.push_str(values.get(name).ok_or_else(|| name.to_string())?);
        } else {
            // Not a placeholder (e.g. "{{ }}"): kept as written.
            out.push_str(&rest[start..start + 4 + len]);
        }
        rest = &rest[start + 4 + len..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: serde_json::Value) -> Result<ValidatedBroadcast, ValidationError> {
        let now = Timestamp::parse("2026-01-01T00:00:00Z").expect("a time");
        BroadcastRequest::from_json(body.to_string().as_bytes())?.validate(now)
    }

    #[test]
    fn variables_fill_placeholders_per_chat() {
        let broadcast = parse(json!({
            "chat_ids": ["15550000010", "15550000011@c.us"],
            "message": "Hi {{name}}, your code is {{ code }}.",
            "variables": [
                {"chat_id": "15550000010", "values": {"name": "Ana", "code": 7}},
                {"chat_id": "15550000011", "values": {"name": "Bo", "code": "X1"}}
            ]
        }))
        .unwrap();
        let texts: Vec<_> = broadcast.recipients.iter().map(|r| r.text.clone().unwrap()).collect();
        assert_eq!(texts, ["Hi Ana, your code is 7.", "Hi Bo, your code is X1."]);
        assert_eq!(broadcast.delay, DEFAULT_BROADCAST_DELAY);
        assert_eq!(broadcast.recipients[1].chat_id.as_str(), "15550000011@c.us");
    }

    #[test]
    fn every_bad_chat_id_is_named_and_nothing_passes() {
        let err =
            parse(json!({"chat_ids": ["15550000010", "abc", "+1555", "15550000012"], "message": "hi"})).unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), ("invalid_chat_ids", Some("chat_ids")));
        assert!(
            err.message.contains("chat_ids[1] \"abc\"") && err.message.contains("chat_ids[2] \"+1555\""),
            "{}",
            err.message
        );
        let err = parse(json!({"chat_ids": ["15550000010", "15550000010@c.us"], "message": "hi"})).unwrap_err();
        assert_eq!(err.code, "duplicate_chat_ids");
        assert_eq!(parse(json!({"chat_ids": [], "message": "hi"})).unwrap_err().code, "invalid_chat_ids");
        let many: Vec<String> = (0..1001).map(|i| format!("1555{i:07}")).collect();
        assert_eq!(parse(json!({"chat_ids": many, "message": "hi"})).unwrap_err().code, "invalid_chat_ids");
    }

    #[test]
    fn a_placeholder_without_a_value_is_an_error_naming_the_chat() {
        let err = parse(json!({"chat_ids": ["15550000010", "15550000011"], "message": "Hi {{name}}",
            "variables": [{"chat_id": "15550000010", "values": {"name": "Ana"}}]}))
        .unwrap_err();
        assert_eq!(err.code, "missing_variables");
        assert!(err.message.contains("15550000011@c.us ({{name}})"), "{}", err.message);
    }

    #[test]
    fn content_delay_and_variables_are_validated() {
        let base = |extra: serde_json::Value| {
            let mut body = json!({"chat_ids": ["15550000010"], "message": "hi"});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            parse(body)
        };
        assert_eq!(base(json!({"message": ""})).unwrap_err().code, "empty_message");
        assert_eq!(base(json!({"delay": -1})).unwrap_err().code, "invalid_delay");
        assert_eq!(base(json!({"delay": 2.5})).unwrap().delay, Duration::from_millis(2500));
        assert_eq!(base(json!({"scheduled_at": "soon"})).unwrap_err().code, "invalid_scheduled_at");
        let err = base(json!({"variables": [{"chat_id": "15550000099", "values": {}}]})).unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), ("invalid_variables", Some("variables[0].chat_id")));
        let err = base(json!({"variables": [{"chat_id": "15550000010", "values": {"a": [1]}}]})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("variables[0].values.a"));
    }

    #[test]
    fn the_last_chat_must_be_due_within_the_schedule_horizon() {
        // 1,000 chats an hour apart from now: the last is due 999 hours (41.6 days) ahead.
        let chats: Vec<String> = (0..1000).map(|i| format!("1555{i:07}")).collect();
        let err = parse(json!({"chat_ids": chats, "message": "hi", "delay": 3600})).unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), ("invalid_delay", Some("delay")));
        assert!(err.message.contains("30 days ahead") && err.message.contains("1000 chats"), "{}", err.message);
        // 720 chats an hour apart end 719 hours (29.96 days) ahead: accepted, and so is the
        // exact horizon; a second more is not.
        let within = parse(json!({"chat_ids": chats[..720], "message": "hi", "delay": 3600})).unwrap();
        let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(within.last_due(now).to_string(), "2026-01-30T23:00:00.000Z");
        let two = &chats[..2];
        assert!(
            parse(json!({"chat_ids": two, "message": "hi", "scheduled_at": "2026-01-30T23:00:00Z", "delay": 3600}))
                .is_ok()
        );
        let err =
            parse(json!({"chat_ids": two, "message": "hi", "scheduled_at": "2026-01-30T23:00:01Z", "delay": 3600}))
                .unwrap_err();
        assert_eq!(err.code, "invalid_delay");
    }

    #[test]
    fn a_message_that_variables_leave_empty_is_an_error() {
        let err = parse(json!({"chat_ids": ["15550000030"], "message": "{{a}}",
            "variables": [{"chat_id": "15550000030", "values": {"a": ""}}]}))
        .unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), ("empty_message", Some("variables")));
    }

    #[test]
    fn text_that_is_not_a_placeholder_is_kept() {
        let values = BTreeMap::from([("a".to_string(), "1".to_string())]);
        assert_eq!(fill_placeholders("{{a}} {{ }} {{a", &values).unwrap(), "1 {{ }} {{a");
        assert_eq!(fill_placeholders("{{b}}", &values), Err("b".to_string()));
    }
}
