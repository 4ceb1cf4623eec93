//! `ChatId`: a WhatsApp chat address that is known to be well formed and normalised.

use super::limits::PHONE_DIGITS;
use super::validation::ValidationError;

const USER_SUFFIX: &str = "@c.us";
const GROUP_SUFFIX: &str = "@g.us";

/// `<digits>@c.us` for a 1-1 chat or `<local>@g.us` for a group; never anything else.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChatId(String);

impl ChatId {
    /// Accepts `<digits>`, `<digits>@c.us` or `<local>@g.us`, normalising the first to `@c.us`.
    pub fn parse(raw: &str) -> Result<ChatId, ValidationError> {
        if let Some(local) = raw.strip_suffix(GROUP_SUFFIX) {
            return is_group_local(local).then(|| ChatId(raw.to_owned())).ok_or_else(invalid);
        }
        let digits = raw.strip_suffix(USER_SUFFIX).unwrap_or(raw);
        is_phone_number(digits).then(|| ChatId(format!("{digits}{USER_SUFFIX}"))).ok_or_else(invalid)
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
         (e.g. 120363025246125486@g.us)",
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
