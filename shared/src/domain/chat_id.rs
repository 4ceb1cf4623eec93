//! `ChatId`: a WhatsApp chat address that is known to be well formed and normalised, read from
//! any dialect's form of it (Periskope's `chat_id`, `/v1/send`'s `to`, Beeper's `chatID`).

use super::limits::{MAX_GROUP_CHAT_ID_CHARS, PHONE_DIGITS};
use super::validation::ValidationError;

const USER_SUFFIX: &str = "@c.us";
const GROUP_SUFFIX: &str = "@g.us";
/// How Beeper's WhatsApp bridge names a 1-1 chat: `!whatsapp_<digits>:<server>`.
const BEEPER_WHATSAPP_PREFIX: &str = "!whatsapp_";

/// `<digits>@c.us` for a 1-1 chat or `<local>@g.us` for a group; never anything else.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChatId(String);

impl ChatId {
    /// Accepts `<digits>`, `<digits>@c.us` or `<local>@g.us`, normalising the first to `@c.us`.
    pub fn parse(raw: &str) -> Result<ChatId, ValidationError> {
        if let Some(local) = raw.strip_suffix(GROUP_SUFFIX) {
            let valid = raw.len() <= MAX_GROUP_CHAT_ID_CHARS && is_group_local(local);
            return valid.then(|| ChatId(raw.to_owned())).ok_or_else(invalid);
        }
        let digits = raw.strip_suffix(USER_SUFFIX).unwrap_or(raw);
        is_phone_number(digits).then(|| ChatId(format!("{digits}{USER_SUFFIX}"))).ok_or_else(invalid)
    }

    /// `/v1/send`'s `to`: a chat id as Periskope takes it, or a number in the seed's `+<digits>` form.
    pub fn parse_recipient(raw: &str, field: &str) -> Result<ChatId, ValidationError> {
        let digits = raw.strip_prefix('+').filter(|digits| is_phone_number(digits));
        ChatId::parse(digits.unwrap_or(raw)).map_err(|_| {
            ValidationError::bad_request(
                "invalid_chat_id",
                Some(field),
                format!(
                    "{field} must be a phone number with country code (+919537851844 or 919537851844), \
                     <digits>@c.us, or a group id ending in @g.us"
                ),
            )
        })
    }

    /// Beeper's `chatID`: a chat id as Periskope takes it, or the id Beeper's WhatsApp bridge
    /// gives a chat, `!whatsapp_<digits>:<server>`, read as those digits.
    pub fn parse_beeper(raw: &str, field: &str) -> Result<ChatId, ValidationError> {
        let bridged = raw
            .strip_prefix(BEEPER_WHATSAPP_PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .filter(|(_, server)| !server.is_empty() && !server.chars().any(|c| c.is_whitespace() || c.is_control()))
            .map(|(digits, _)| digits);
        ChatId::parse(bridged.unwrap_or(raw)).map_err(|_| {
            ValidationError::bad_request(
                "invalid_chat_id",
                Some(field),
                format!(
                    "{field} must be a phone number with country code (919537851844), <digits>@c.us, a group id \
                     ending in @g.us, or a Beeper WhatsApp chat id !whatsapp_<digits>:<server>"
                ),
            )
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The phone number of a 1-1 chat (`15550000001` of `15550000001@c.us`); `None` for groups.
    pub fn digits(&self) -> Option<&str> {
        self.0.strip_suffix(USER_SUFFIX)
    }

    pub fn is_group(&self) -> bool {
        self.0.ends_with(GROUP_SUFFIX)
    }
}

/// A phone number as E.164 without the '+': 5 to 15 digits. Chat ids and phones both use it.
pub fn is_phone_number(s: &str) -> bool {
    PHONE_DIGITS.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// Group ids are `<digits>` or the legacy `<creator digits>-<timestamp>`: digit runs joined by
/// single hyphens, so a stray or leading '-' is rejected rather than forwarded to the provider.
fn is_group_local(s: &str) -> bool {
    s.split('-').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

fn invalid() -> ValidationError {
    ValidationError::bad_request(
        "invalid_chat_id",
        Some("chat_id"),
        "chat_id must be a phone number with country code and no '+', spaces or dashes \
         (5 to 15 digits, e.g. 919537851844 or 919537851844@c.us), or a group id ending in @g.us \
         (e.g. 120363025246125486@g.us, at most 64 characters)",
    )
}

impl TryFrom<String> for ChatId {
    type Error = ValidationError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        ChatId::parse(&raw)
    }
}

impl From<ChatId> for String {
    fn from(id: ChatId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::validation::ValidationErrorKind;

    #[test]
    fn bare_digits_are_normalised_to_c_us() {
        let id = ChatId::parse("919537851844").expect("valid");
        assert_eq!(id.as_str(), "919537851844@c.us");
        assert_eq!(id.digits(), Some("919537851844"));
        assert!(!id.is_group());
    }

    #[test]
    fn c_us_ids_are_kept() {
        assert_eq!(ChatId::parse("919537851844@c.us").expect("valid").as_str(), "919537851844@c.us");
    }

    #[test]
    fn digit_length_bounds_are_5_to_15() {
        for ok in ["12345", "123456789012345", "12345@c.us"] {
            assert!(ChatId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["1234", "1234567890123456", "1234@c.us"] {
            assert!(ChatId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn group_ids_are_kept() {
        for raw in ["120363025246125486@g.us", "919876543210-1598392874@g.us"] {
            let id = ChatId::parse(raw).expect("valid group");
            assert_eq!(id.as_str(), raw);
            assert!(id.is_group());
            assert_eq!(id.digits(), None);
        }
    }

    #[test]
    fn group_ids_are_at_most_64_characters() {
        let longest = format!("{}@g.us", "1".repeat(MAX_GROUP_CHAT_ID_CHARS - 5));
        assert!(ChatId::parse(&longest).is_ok());
        let err = ChatId::parse(&format!("1{longest}")).expect_err("65 characters");
        assert_eq!(err.code, "invalid_chat_id");
        assert!(err.message.contains("at most 64 characters"), "{}", err.message);
    }

    #[test]
    fn malformed_ids_are_rejected_with_the_accepted_forms() {
        let bad = [
            "",
            "abc",
            "+1555",
            "+919537851844",
            "1555@s.whatsapp.net",
            "@g.us",
            "@c.us",
            "-@g.us",
            "1--2@g.us",
            "-12@g.us",
            "12-@g.us",
            "ab@g.us",
            "91953 7851844",
            " 919537851844",
            "919537851844@C.US",
            "919537851844@c.us@c.us",
            "١٢٣٤٥٦",
        ];
        for raw in bad {
            let err = ChatId::parse(raw).expect_err(raw);
            assert_eq!(
                (err.kind, err.code, err.field.as_deref()),
                (ValidationErrorKind::BadRequest, "invalid_chat_id", Some("chat_id")),
                "{raw}"
            );
            assert!(err.message.contains("@c.us") && err.message.contains("@g.us"), "{}", err.message);
        }
    }

    #[test]
    fn the_other_dialects_forms_read_as_the_same_chat() {
        let recipients = [
            ("+1234567890", "1234567890@c.us"),
            ("1234567890", "1234567890@c.us"),
            ("1234567890@c.us", "1234567890@c.us"),
            ("120363025246125486@g.us", "120363025246125486@g.us"),
        ];
        for (raw, chat) in recipients {
            assert_eq!(ChatId::parse_recipient(raw, "to").expect(raw).as_str(), chat);
        }
        for bad in ["+", "++1234567890", "+1234567890@c.us", "+abc", "1234 567890"] {
            let err = ChatId::parse_recipient(bad, "to").expect_err(bad);
            assert_eq!((err.code, err.field.as_deref()), ("invalid_chat_id", Some("to")), "{bad}");
        }
        let beeper = [
            ("!whatsapp_15550101002:ba_EvYDBBsZbRQAy3UOSWqG0LuTVkc.local-whatsapp.localhost", "15550101002@c.us"),
            ("!whatsapp_15550101002:beeper.com", "15550101002@c.us"),
            ("15550101002@c.us", "15550101002@c.us"),
            ("15550101002", "15550101002@c.us"),
            ("120363025246125486@g.us", "120363025246125486@g.us"),
        ];
        for (raw, chat) in beeper {
            assert_eq!(ChatId::parse_beeper(raw, "chatID").expect(raw).as_str(), chat);
        }
        for bad in [
            "!whatsapp_15550101002",
            "!whatsapp_:server",
            "!whatsapp_abc:server",
            "!signal_1555010:s",
            "!whatsapp_15550101002: x",
        ] {
            let err = ChatId::parse_beeper(bad, "chatID").expect_err(bad);
            assert_eq!((err.code, err.field.as_deref()), ("invalid_chat_id", Some("chatID")), "{bad}");
            assert!(err.message.contains("!whatsapp_<digits>:<server>"), "{}", err.message);
        }
    }

    #[test]
    fn serde_round_trips_through_the_normalised_string() {
        let id: ChatId = serde_json::from_str("\"15550000001\"").expect("valid");
        assert_eq!(serde_json::to_string(&id).expect("serialise"), "\"15550000001@c.us\"");
        assert!(serde_json::from_str::<ChatId>("\"nope\"").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_and_a_parsed_id_parses_to_itself(raw in "[0-9@cgus.\\- ]{0,24}|\\PC{0,24}") {
            if let Ok(id) = ChatId::parse(&raw) {
                proptest::prop_assert_eq!(ChatId::parse(id.as_str()), Ok(id.clone()));
            }
        }

        #[test]
        fn valid_ids_round_trip(
            digits in "[0-9]{5,15}",
            c_us in proptest::bool::ANY,
            group in "[0-9]{1,18}(-[0-9]{1,12})?",
        ) {
            let user = ChatId::parse(&format!("{digits}{}", if c_us { "@c.us" } else { "" })).expect("valid user id");
            proptest::prop_assert_eq!(user.as_str(), format!("{digits}@c.us"));
            proptest::prop_assert_eq!(user.digits(), Some(digits.as_str()));
            let raw_group = format!("{group}@g.us");
            let group = ChatId::parse(&raw_group).expect("valid group id");
            proptest::prop_assert_eq!(group.as_str(), raw_group.as_str());
            proptest::prop_assert!(group.is_group() && group.digits().is_none());
        }
    }
}
