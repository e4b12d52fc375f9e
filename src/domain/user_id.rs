//! [`UserId`]: the strictly positive database id of a user.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};
use spin_sdk::pg::{DbValue, Decode, Error as PgError, ParameterValue};

use super::error::{DomainError, invalid_in_db, wrong_db_type};

const FIELD: &str = "user id";
const NOT_POSITIVE: &str = "must be a positive integer";

/// A user id: a strictly positive `i64` (a `BIGSERIAL`/identity value).
///
/// Serialised as a JSON number; `Display` prints the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(i64);

impl UserId {
    /// `Some` if `id > 0`.
    #[must_use]
    pub const fn new(id: i64) -> Option<Self> {
        if id > 0 { Some(Self(id)) } else { None }
    }

    /// Parses a URL path segment: only the canonical decimal rendering of a positive `i64` is
    /// accepted (ASCII digits only, no sign, no leading zero, no whitespace, no overflow).
    #[must_use]
    pub fn parse_path_segment(segment: &str) -> Option<Self> {
        let bytes = segment.as_bytes();
        let first = *bytes.first()?;
        if first == b'0' || !bytes.iter().all(u8::is_ascii_digit) {
            return None;
        }
        // Only ASCII digits remain, so `parse` cannot see a sign; it still rejects overflow.
        segment.parse::<i64>().ok().and_then(Self::new)
    }

    /// Parses the canonical decimal rendering (see [`UserId::parse_path_segment`]).
    ///
    /// # Errors
    ///
    /// A [`DomainError`] (which never contains the input) if it is not canonical or not positive.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        Self::parse_path_segment(input).ok_or(DomainError::new(FIELD, NOT_POSITIVE))
    }

    /// The id as an `i64` (always `> 0`).
    #[must_use]
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl FromStr for UserId {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for UserId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

impl Decode for UserId {
    fn decode(value: &DbValue) -> Result<Self, PgError> {
        match value {
            DbValue::Int64(n) => {
                Self::new(*n).ok_or_else(|| invalid_in_db(DomainError::new(FIELD, NOT_POSITIVE)))
            }
            _ => Err(wrong_db_type(FIELD, "bigint")),
        }
    }
}

impl From<UserId> for ParameterValue {
    fn from(value: UserId) -> Self {
        ParameterValue::Int64(value.0)
    }
}

impl From<&UserId> for ParameterValue {
    fn from(value: &UserId) -> Self {
        ParameterValue::Int64(value.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn new_requires_positive() {
        assert_eq!(UserId::new(1).map(UserId::get), Some(1));
        assert_eq!(UserId::new(i64::MAX).map(UserId::get), Some(i64::MAX));
        assert_eq!(UserId::new(0), None);
        assert_eq!(UserId::new(-1), None);
        assert_eq!(UserId::new(i64::MIN), None);
    }

    #[test]
    fn path_segment_accepts_canonical() {
        assert_eq!(UserId::parse_path_segment("1").map(UserId::get), Some(1));
        assert_eq!(UserId::parse_path_segment("42").map(UserId::get), Some(42));
        assert_eq!(
            UserId::parse_path_segment("9223372036854775807").map(UserId::get),
            Some(i64::MAX)
        );
    }

    #[test]
    fn path_segment_rejects_non_canonical() {
        for bad in [
            "",
            "0",
            "00",
            "01",
            "007",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1\n",
            "1.0",
            "1e3",
            "0x10",
            "abc",
            "1_000",
            "9223372036854775808",
            "99999999999999999999999",
            "١٢٣",  // Arabic-Indic digits
            "１２", // full-width digits
        ] {
            assert_eq!(UserId::parse_path_segment(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parse_and_from_str() {
        assert_eq!("17".parse::<UserId>().map(UserId::get), Ok(17));
        assert_eq!(
            UserId::parse("017").map_err(|e| e.to_string()),
            Err("user id must be a positive integer".to_owned())
        );
    }

    #[test]
    fn display_debug_serialize() {
        let id = UserId::new(12345);
        assert_eq!(id.map(|i| i.to_string()).as_deref(), Some("12345"));
        assert_eq!(format!("{id:?}"), "Some(UserId(12345))");
        assert_eq!(serde_json::to_string(&id).ok().as_deref(), Some("12345"));
    }

    #[test]
    fn db_decode_and_parameter() {
        assert_eq!(UserId::decode(&DbValue::Int64(5)).ok(), UserId::new(5));
        let err = UserId::decode(&DbValue::Int64(-98_765_432))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("must be a positive integer"), "{err}");
        assert!(!err.contains("98765432"), "{err}");
        assert!(UserId::decode(&DbValue::Int64(0)).is_err());
        assert!(UserId::decode(&DbValue::Str("5".into())).is_err());
        assert!(UserId::decode(&DbValue::Int32(5)).is_err());
        let p: Option<ParameterValue> = UserId::new(9).map(Into::into);
        assert!(matches!(p, Some(ParameterValue::Int64(9))));
    }

    proptest! {
        #[test]
        fn canonical_rendering_of_any_positive_i64_is_accepted(n in 1..=i64::MAX) {
            let id = UserId::parse_path_segment(&n.to_string());
            prop_assert_eq!(id.map(UserId::get), Some(n));
            prop_assert_eq!(id, UserId::new(n));
            // idempotent through Display
            if let Some(id) = id {
                prop_assert_eq!(UserId::parse_path_segment(&id.to_string()), Some(id));
                prop_assert_eq!(UserId::parse(&id.to_string()), Ok(id));
            }
        }

        #[test]
        fn non_positive_are_rejected(n in i64::MIN..=0) {
            prop_assert_eq!(UserId::parse_path_segment(&n.to_string()), None);
            prop_assert_eq!(UserId::new(n), None);
        }

        #[test]
        fn leading_zeros_and_signs_are_rejected(n in 0..=i64::MAX, zeros in 1usize..4) {
            let s = n.to_string();
            prop_assert_eq!(UserId::parse_path_segment(&format!("{}{s}", "0".repeat(zeros))), None);
            prop_assert_eq!(UserId::parse_path_segment(&format!("+{s}")), None);
            prop_assert_eq!(UserId::parse_path_segment(&format!("-{s}")), None);
            prop_assert_eq!(UserId::parse_path_segment(&format!(" {s}")), None);
            prop_assert_eq!(UserId::parse_path_segment(&format!("{s} ")), None);
        }

        #[test]
        fn accepts_exactly_canonical_strings(s in "[0-9+ -]{0,21}") {
            let expected = s.parse::<i64>().ok().filter(|n| *n > 0 && n.to_string() == s);
            prop_assert_eq!(UserId::parse_path_segment(&s).map(UserId::get), expected);
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            if let Some(id) = UserId::parse_path_segment(&s) {
                prop_assert_eq!(id.to_string(), s);
            }
        }

        #[test]
        fn errors_never_echo_input(s in "[0-9+-]{8,30}") {
            if let Err(err) = UserId::parse(&s) {
                prop_assert!(!err.to_string().contains(&s));
            }
        }
    }
}
