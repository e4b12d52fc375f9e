//! The error shared by every domain parser, and the helpers that turn it into a database
//! decoding error.

use spin_sdk::pg::{DbValue, Error as PgError};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Why a value was rejected by a domain parser.
///
/// Both parts are `&'static str` constants chosen by the parser, so an error can never carry
/// (and therefore never leak) the rejected input, which may be personal data. It is safe to log
/// and safe to return to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{field} {message}")]
pub struct DomainError {
    field: &'static str,
    message: &'static str,
}

impl DomainError {
    /// An error about `field` (e.g. `"email"`) with a short, human-readable `message`
    /// (e.g. `"must be at most 255 characters"`).
    #[must_use]
    pub const fn new(field: &'static str, message: &'static str) -> Self {
        Self { field, message }
    }

    /// The name of the rejected field, e.g. `"email"`.
    #[must_use]
    pub const fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with the value, without the field name, e.g.
    /// `"must be at most 255 characters"`.
    #[must_use]
    pub const fn message(&self) -> &'static str {
        self.message
    }
}

/// The database held a value of the right type that fails domain validation.
pub(crate) fn invalid_in_db(err: DomainError) -> PgError {
    PgError::Decode(format!("invalid value in database: {err}"))
}

/// The database held a value of the wrong type (the value itself is not printed).
pub(crate) fn wrong_db_type(field: &'static str, expected: &'static str) -> PgError {
    PgError::Decode(format!("{field}: expected a {expected} database value"))
}

/// Decodes a text column with a domain parser; errors never contain the value.
// `allow`, not `expect`: the error is "large" on 64-bit targets only, not on wasm32.
#[allow(
    clippy::result_large_err,
    reason = "the error type is fixed by spin_sdk::pg::Decode"
)]
pub(crate) fn decode_str<T>(
    value: &DbValue,
    field: &'static str,
    parse: impl FnOnce(&str) -> Result<T, DomainError>,
) -> Result<T, PgError> {
    match value {
        DbValue::Str(s) => parse(s).map_err(invalid_in_db),
        _ => Err(wrong_db_type(field, "text")),
    }
}

/// Counts `chars` of `s`, stopping as soon as the count exceeds `max` (so huge inputs are not
/// walked to the end). Returns `true` when `s` has more than `max` characters.
pub(crate) fn longer_than(s: &str, max: usize) -> bool {
    // A char is at least one byte: no more bytes than `max` means no more chars (the usual
    // case, on every value read back from the database, without walking the string).
    s.len() > max && s.chars().nth(max).is_some()
}

/// The message for a value holding a Unicode format character.
pub(crate) const FORMAT_CHARACTER: &str =
    "must not contain invisible or direction-changing characters (Unicode format characters)";

/// Whether `s` holds a Unicode format character (general category Cf): invisible characters
/// such as U+200B ZERO WIDTH SPACE, U+00AD SOFT HYPHEN, U+2060 WORD JOINER or U+FEFF, and the
/// direction controls U+200E/U+200F, U+202A..U+202E and U+2066..U+2069. Two values that
/// differ only by such characters look identical; new values holding one are refused (values
/// already stored are still read, see the types' database decoding).
pub(crate) fn has_format_character(s: &str) -> bool {
    s.chars()
        .any(|c| c.general_category() == GeneralCategory::Format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_characters_are_found() {
        for c in [
            '\u{ad}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{200e}',
            '\u{200f}',
            '\u{202a}',
            '\u{202e}',
            '\u{2060}',
            '\u{2064}',
            '\u{2066}',
            '\u{2069}',
            '\u{feff}',
            '\u{e0001}',
        ] {
            assert!(
                has_format_character(&format!("a{c}b")),
                "U+{:04X}",
                c as u32
            );
        }
        for ok in ["plain", "Élodie Ørsted", "名前", "a\u{301}", "😀", ""] {
            assert!(!has_format_character(ok), "{ok}");
        }
    }

    #[test]
    fn display_and_accessors() {
        let err = DomainError::new("email", "must not be empty");
        assert_eq!(err.field(), "email");
        assert_eq!(err.message(), "must not be empty");
        assert_eq!(err.to_string(), "email must not be empty");
        let boxed: Box<dyn std::error::Error> = Box::new(err);
        assert_eq!(boxed.to_string(), "email must not be empty");
    }

    #[test]
    fn decode_str_reports_wrong_type_without_value() {
        let err = decode_str(&DbValue::Int64(123_456_789), "email", |_| Ok(()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("expected a text"), "{err}");
        assert!(!err.contains("123456789"), "{err}");
    }

    #[test]
    fn decode_str_reports_invalid_value_without_value() {
        let secret = "secret-value-xyz";
        let err = decode_str(&DbValue::Str(secret.to_owned()), "email", |_| {
            Err::<(), _>(DomainError::new("email", "is not valid"))
        })
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("email is not valid"), "{err}");
        assert!(!err.contains(secret), "{err}");
    }

    #[test]
    fn longer_than_counts_chars_not_bytes() {
        assert!(!longer_than("", 0));
        assert!(longer_than("a", 0));
        assert!(!longer_than("ééé", 3));
        assert!(longer_than("éééé", 3));
    }
}
