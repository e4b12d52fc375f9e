//! [`DisplayName`]: a subscription's own name for its source.
//!
//! The same text rules as a user's name ([`crate::domain::UserName`]), through the same
//! macro (`bounded_text!`): only the field and the messages differ.

use crate::domain::{DomainError, bounded_text};

const FIELD: &str = "display_name";

bounded_text! {
    /// A subscription's own name for its source: trimmed (Unicode whitespace), 1 to
    /// [`DisplayName::MAX_CHARS`] characters, no control or format (Cf) characters.
    #[derive(Clone, PartialEq, Eq, Hash)]
    DisplayName,
    field = FIELD,
    max = 100,
    empty = "must not be empty (null removes it)",
    too_long = "must be at most 100 characters",
}

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
