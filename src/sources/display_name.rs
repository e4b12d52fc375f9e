//! [`DisplayName`]: a subscription's own name for its source.
//!
//! The same text rules as a user's name ([`crate::domain::UserName`]), through the same
//! helpers (`parse_text`, `personal_string!`): only the field and the messages differ.

use crate::domain::{DomainError, parse_text, personal_string};

const FIELD: &str = "display_name";

/// A subscription's own name for its source: trimmed (Unicode whitespace), 1 to
/// [`DisplayName::MAX_CHARS`] characters, no control or format (Cf) characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

impl DisplayName {
    /// The maximum length, in characters (after trimming).
    pub const MAX_CHARS: usize = 100;

    /// Parses a display name (trimming it).
    ///
    /// # Errors
    ///
    /// A [`DomainError`] on `display_name` if it is empty, too long or has a control character.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        Self::checked(input, true)
    }

    /// [`DisplayName::parse`] without the format-character rule, for values stored before it.
    fn from_db(input: &str) -> Result<Self, DomainError> {
        Self::checked(input, false)
    }

    fn checked(input: &str, refuse_format: bool) -> Result<Self, DomainError> {
        parse_text(
            input,
            FIELD,
            "must not be empty (null removes it)",
            Self::MAX_CHARS,
            "must be at most 100 characters",
            refuse_format,
        )
        .map(|s| Self(s.to_owned()))
    }
}

personal_string!(DisplayName, FIELD, from_db);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FORMAT_CHARACTER;
    use spin_sdk::pg::{DbValue, Decode};

    #[test]
    fn display_names_refuse_format_characters_but_stored_ones_still_read() {
        for bad in ["My feed\u{202e}", "My\u{200b}feed", "\u{2067}feed"] {
            let error = DisplayName::parse(bad).err();
            assert_eq!(
                error.map(|e| (e.field(), e.message())),
                Some(("display_name", FORMAT_CHARACTER))
            );
        }
        assert!(DisplayName::parse("My feed").is_ok());
        assert!(DisplayName::decode(&DbValue::Str("My\u{200b}feed".into())).is_ok());
    }

    #[test]
    fn display_names_are_trimmed_and_bounded_with_their_own_messages() {
        assert_eq!(
            DisplayName::parse("  My feed \n").map(DisplayName::into_string),
            Ok("My feed".to_owned())
        );
        assert_eq!(
            DisplayName::parse(&"é".repeat(100)).map(|n| n.as_str().chars().count()),
            Ok(100)
        );
        for (bad, message) in [
            ("", "must not be empty (null removes it)"),
            (" \t ", "must not be empty (null removes it)"),
            (&*"a".repeat(101), "must be at most 100 characters"),
            ("My\u{7}feed", "must not contain control characters"),
        ] {
            assert_eq!(
                DisplayName::parse(bad).map_err(|e| (e.field(), e.message())),
                Err(("display_name", message)),
                "{bad:?}"
            );
        }
        assert_eq!(
            format!("{:?}", DisplayName::parse("Secret").ok()),
            "Some(DisplayName(<redacted>))"
        );
        assert!(DisplayName::decode(&DbValue::Str("  ".into())).is_err());
    }
}
