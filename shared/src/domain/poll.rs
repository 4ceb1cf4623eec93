//! Polls: turning a raw `poll` object into a `Poll` with a name and 2 to 12 distinct options.

use super::limits::{MAX_POLL_ID_CHARS, MAX_POLL_NAME_CHARS, MAX_POLL_OPTION_CHARS, POLL_OPTIONS};
use super::validation::ValidationError;
use super::wire::RawPoll;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Poll {
    pub name: String,
    pub options: Vec<String>,
    pub allow_multiple_answers: bool,
    pub poll_id: Option<String>,
}

impl Poll {
    /// Checks the name, the option count, then each option in order; stores trimmed text.
    pub fn parse(raw: RawPoll) -> Result<Poll, ValidationError> {
        let name = raw.poll_name.as_deref().map(str::trim).unwrap_or_default();
        ValidationError::check_length(name, "poll.pollName", MAX_POLL_NAME_CHARS)?;
        if name.is_empty() {
            return Err(invalid("poll.pollName", "poll.pollName is required and must not be blank".into()));
        }
        let raw_options = raw.poll_options.unwrap_or_default();
        if !POLL_OPTIONS.contains(&raw_options.len()) {
            return Err(invalid(
                "poll.pollOptions",
                format!(
                    "poll.pollOptions has {} entries; give between {} and {} options",
                    raw_options.len(),
                    POLL_OPTIONS.start(),
                    POLL_OPTIONS.end()
                ),
            ));
        }
        let mut options = Vec::with_capacity(raw_options.len());
        for (i, option) in raw_options.iter().enumerate() {
            let option = option.trim();
            let field = format!("poll.pollOptions[{i}]");
            if option.is_empty() {
                return Err(invalid(&field, format!("{field} is blank; every poll option needs text")));
            }
            ValidationError::check_length(option, &field, MAX_POLL_OPTION_CHARS)?;
            // At most 12 options, so a linear scan is simpler than a set.
            if options.iter().any(|seen: &String| seen == option) {
                return Err(invalid(
                    &field,
                    format!("{field} repeats the option \"{option}\"; poll options must be distinct"),
                ));
            }
            options.push(option.to_owned());
        }
        let settings = raw.options.unwrap_or_default();
        if let Some(poll_id) = &settings.poll_id {
            ValidationError::check_length(poll_id, "poll.options.pollId", MAX_POLL_ID_CHARS)?;
        }
        Ok(Poll {
            name: name.to_owned(),
            options,
            allow_multiple_answers: settings.allow_multiple_answers.unwrap_or(false),
            poll_id: settings.poll_id,
        })
    }
}

fn invalid(field: &str, message: String) -> ValidationError {
    ValidationError::bad_request("invalid_poll", Some(field), message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::validation::ValidationErrorKind;
    use crate::domain::wire::RawPollOptions;

    fn raw(name: &str, options: &[&str]) -> RawPoll {
        RawPoll {
            poll_name: Some(name.into()),
            poll_options: Some(options.iter().map(|o| o.to_string()).collect()),
            options: None,
        }
    }

    fn numbered(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("option {i}")).collect()
    }

    fn assert_rejects(poll: RawPoll, field: &str) {
        let err = Poll::parse(poll).expect_err("should be rejected");
        assert_eq!(
            (err.kind, err.code, err.field.as_deref()),
            (ValidationErrorKind::BadRequest, "invalid_poll", Some(field)),
            "{}",
            err.message
        );
    }

    #[test]
    fn valid_poll_is_trimmed_and_defaults_to_single_answer() {
        let poll = Poll::parse(raw(" Lunch? ", &[" Pizza", "Sushi "])).expect("valid");
        assert_eq!(
            poll,
            Poll {
                name: "Lunch?".into(),
                options: vec!["Pizza".into(), "Sushi".into()],
                allow_multiple_answers: false,
                poll_id: None
            }
        );
    }

    #[test]
    fn options_are_carried_over() {
        let settings = RawPollOptions { allow_multiple_answers: Some(true), poll_id: Some("p-1".into()) };
        let poll = Poll::parse(RawPoll { options: Some(settings), ..raw("q", &["a", "b"]) }).expect("valid");
        assert!(poll.allow_multiple_answers);
        assert_eq!(poll.poll_id.as_deref(), Some("p-1"));
    }

    #[test]
    fn name_is_required_and_non_blank() {
        assert_rejects(RawPoll { poll_name: None, ..raw("", &["a", "b"]) }, "poll.pollName");
        assert_rejects(raw("  \n", &["a", "b"]), "poll.pollName");
    }

    #[test]
    fn two_to_twelve_options_are_accepted() {
        for n in [2, 12] {
            let poll = Poll::parse(RawPoll { poll_options: Some(numbered(n)), ..raw("q", &[]) }).expect("valid");
            assert_eq!(poll.options.len(), n);
        }
    }

    #[test]
    fn too_few_or_too_many_options_are_rejected() {
        for n in [0, 1, 13] {
            assert_rejects(RawPoll { poll_options: Some(numbered(n)), ..raw("q", &[]) }, "poll.pollOptions");
        }
        assert_rejects(RawPoll { poll_options: None, ..raw("q", &[]) }, "poll.pollOptions");
    }

    #[test]
    fn blank_options_are_rejected_at_their_index() {
        assert_rejects(raw("q", &["a", " ", "c"]), "poll.pollOptions[1]");
    }

    #[test]
    fn duplicate_options_are_rejected_at_the_first_repeat() {
        assert_rejects(raw("q", &["Yes", "No", "Yes"]), "poll.pollOptions[2]");
        assert_rejects(raw("q", &["Yes", " Yes "]), "poll.pollOptions[1]");
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(
            name in proptest::option::of("\\PC{0,8}"),
            options in proptest::option::of(proptest::collection::vec("[ ab]{0,3}|\\PC{0,4}", 0..16)),
        ) {
            let _ = Poll::parse(RawPoll { poll_name: name, poll_options: options, options: None });
        }

        #[test]
        fn distinct_options_round_trip_trimmed(
            name in "\\S(.*\\S)?",
            options in proptest::collection::btree_set("\\S{1,10}", 2..=12),
            padding in "[ \t\n]{0,2}",
            multiple in proptest::bool::ANY,
        ) {
            let options: Vec<String> = options.into_iter().collect();
            let poll = Poll::parse(RawPoll {
                poll_name: Some(format!("{padding}{name}{padding}")),
                poll_options: Some(options.iter().map(|o| format!("{padding}{o}{padding}")).collect()),
                options: Some(RawPollOptions { allow_multiple_answers: Some(multiple), poll_id: None }),
            })
            .expect("a valid poll");
            proptest::prop_assert_eq!(
                poll,
                Poll { name, options, allow_multiple_answers: multiple, poll_id: None }
            );
        }
    }
}
