//! The error shared by every domain parser, and the helpers that turn it into a database
//! decoding error.

use std::fmt;

use spin_sdk::pg::{DbValue, Error as PgError};

/// Why a value was rejected by a domain parser.
///
/// Both parts are `&'static str` constants chosen by the parser, so an error can never carry
/// (and therefore never leak) the rejected input, which may be personal data. It is safe to log
/// and safe to return to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.message)
    }
}

impl std::error::Error for DomainError {}

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

#[cfg(test)]
mod tests {
    use super::*;

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
