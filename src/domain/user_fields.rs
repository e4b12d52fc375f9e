//! Profile fields of a user: [`UserName`], [`Profession`], [`ProfilePicture`] and
//! [`DateOfBirth`].
//!
//! All of them are personal data: their `Debug` output is redacted and their errors never
//! contain the input.

use std::fmt;

use chrono::NaiveDate;
use serde::{Serialize, Serializer};
use spin_sdk::pg::{DbValue, Decode, Error as PgError, ParameterValue};

use super::error::{
    DomainError, FORMAT_CHARACTER, has_format_character, invalid_in_db, longer_than, wrong_db_type,
};

/// Trims `input` and checks it is 1..=`max` characters with no control character and, when
/// `refuse_format`, no Unicode format character (new values; values already stored are read
/// without that check). Also used by [`crate::sources::DisplayName`].
pub(crate) fn parse_text<'a>(
    input: &'a str,
    field: &'static str,
    empty_message: &'static str,
    max: usize,
    too_long_message: &'static str,
    refuse_format: bool,
) -> Result<&'a str, DomainError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(DomainError::new(field, empty_message));
    }
    if longer_than(trimmed, max) {
        return Err(DomainError::new(field, too_long_message));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(DomainError::new(
            field,
            "must not contain control characters",
        ));
    }
    if refuse_format && has_format_character(trimmed) {
        return Err(DomainError::new(field, FORMAT_CHARACTER));
    }
    Ok(trimmed)
}

/// The shared impls of a trimmed-string newtype that holds personal data; `$decode` reads a
/// stored value. Also used by [`crate::sources::DisplayName`].
macro_rules! personal_string {
    ($name:ident, $field:expr, $decode:ident) => {
        impl $name {
            /// The validated (trimmed) value.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The validated (trimmed) value, by value.
            #[must_use]
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::domain::DomainError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl ::spin_sdk::pg::Decode for $name {
            fn decode(value: &::spin_sdk::pg::DbValue) -> Result<Self, ::spin_sdk::pg::Error> {
                $crate::domain::decode_str(value, $field, Self::$decode)
            }
        }

        impl From<$name> for ::spin_sdk::pg::ParameterValue {
            fn from(value: $name) -> Self {
                ::spin_sdk::pg::ParameterValue::Str(value.0)
            }
        }

        impl From<&$name> for ::spin_sdk::pg::ParameterValue {
            fn from(value: &$name) -> Self {
                ::spin_sdk::pg::ParameterValue::Str(value.0.clone())
            }
        }
    };
}

pub(crate) use personal_string;

/// A trimmed-text newtype of personal data: the struct (with the given attributes and
/// derives), `MAX_CHARS`, `parse` (every rule of [`parse_text`]), a `from_db` that reads
/// values stored before the format-character rule, and [`personal_string!`]'s impls. Only
/// the field and the messages differ between such types.
macro_rules! bounded_text {
    (
        $(#[$meta:meta])*
        $name:ident,
        field = $field:expr,
        max = $max:literal,
        empty = $empty:literal,
        too_long = $too_long:literal $(,)?
    ) => {
        $(#[$meta])*
        pub struct $name(String);

        impl $name {
            /// The maximum length, in characters (after trimming).
            pub const MAX_CHARS: usize = $max;

            /// Parses the text (trimming it).
            ///
            /// # Errors
            ///
            #[doc = concat!("A [`DomainError`] (which never contains the input): \"", $empty, "\" when empty after trimming, \"", $too_long, "\", or a control or format character.")]
            pub fn parse(input: &str) -> Result<Self, DomainError> {
                Self::checked(input, true)
            }

            /// `parse` without the format-character rule, for values stored before it.
            fn from_db(input: &str) -> Result<Self, DomainError> {
                Self::checked(input, false)
            }

            fn checked(input: &str, refuse_format: bool) -> Result<Self, DomainError> {
                $crate::domain::parse_text(
                    input,
                    $field,
                    $empty,
                    Self::MAX_CHARS,
                    $too_long,
                    refuse_format,
                )
                .map(|s| Self(s.to_owned()))
            }
        }

        $crate::domain::personal_string!($name, $field, from_db);
    };
}

pub(crate) use bounded_text;

// ------------------------------------------------------------------------------------------------

const NAME_FIELD: &str = "name";

bounded_text! {
    /// A user's display name: trimmed (Unicode whitespace), 1 to [`UserName::MAX_CHARS`]
    /// characters, no control or format (Cf) characters. `Debug` is redacted.
    #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
    UserName,
    field = NAME_FIELD,
    max = 100,
    empty = "must not be empty",
    too_long = "must be at most 100 characters",
}

// ------------------------------------------------------------------------------------------------

const PROFESSION_FIELD: &str = "profession";

bounded_text! {
    /// A user's profession: trimmed, 1 to [`Profession::MAX_CHARS`] characters, no control
    /// characters. An absent profession is `None` (null), never an empty string. `Debug` is
    /// redacted.
    #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
    Profession,
    field = PROFESSION_FIELD,
    max = 100,
    empty = "must not be empty; use null to clear",
    too_long = "must be at most 100 characters",
}

// ------------------------------------------------------------------------------------------------

const PICTURE_FIELD: &str = "profile picture";

/// The URL of a user's profile picture: trimmed, at most [`ProfilePicture::MAX_CHARS`]
/// characters, starting with `http://` or `https://` (any case), an absolute URL with a host
/// (checked with the `url` crate), with no whitespace, control character or backslash inside.
///
/// The trimmed input is stored as given (not the `url` crate's normalised form). `Debug` is
/// redacted.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProfilePicture(String);

impl ProfilePicture {
    /// The maximum length, in characters (after trimming).
    pub const MAX_CHARS: usize = 255;

    /// Parses a profile picture URL (trimming it).
    ///
    /// # Errors
    ///
    /// A [`DomainError`] (which never contains the input) if it is empty, too long, not a URL,
    /// not `http`/`https`, or has no host.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(DomainError::new(
                PICTURE_FIELD,
                "must not be empty; use null to clear",
            ));
        }
        if longer_than(trimmed, Self::MAX_CHARS) {
            return Err(DomainError::new(
                PICTURE_FIELD,
                "must be at most 255 characters",
            ));
        }
        // The url crate silently drops tabs and newlines inside a URL; since the input is
        // stored as given, such characters must be rejected here.
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(DomainError::new(
                PICTURE_FIELD,
                "must not contain whitespace or control characters",
            ));
        }
        let url = url::Url::parse(trimmed)
            .map_err(|_| DomainError::new(PICTURE_FIELD, "must be a valid URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(DomainError::new(
                PICTURE_FIELD,
                "must be an http or https URL",
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(DomainError::new(PICTURE_FIELD, "must have a host"));
        }
        // The stored string is the input, so the input itself must start `http://` or
        // `https://` (any case), as the database's CHECK (`~* '^https?://'`) requires. The url
        // crate also accepts `http:example.com`, `http:/example.com` and backslashes in place
        // of slashes, normalising them away; those are refused here.
        if !has_http_prefix(trimmed) {
            return Err(DomainError::new(
                PICTURE_FIELD,
                "must start with http:// or https://",
            ));
        }
        if trimmed.contains('\\') {
            return Err(DomainError::new(
                PICTURE_FIELD,
                "must not contain backslashes",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }
}

personal_string!(ProfilePicture, PICTURE_FIELD, parse);

/// Whether `s` starts with `http://` or `https://`, ASCII case-insensitively.
fn has_http_prefix(s: &str) -> bool {
    let starts = |prefix: &str| {
        s.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    starts("http://") || starts("https://")
}

// ------------------------------------------------------------------------------------------------

const BIRTH_FIELD: &str = "date of birth";

/// The earliest accepted date of birth.
const EARLIEST_BIRTH: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(date) => date,
    None => panic!("1900-01-01 is a valid date"),
};

/// The latest date accepted from the database (keeps the `YYYY-MM-DD` rendering 10 chars).
const LATEST_STORED: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(date) => date,
    None => panic!("9999-12-31 is a valid date"),
};

/// A user's date of birth: a calendar date from 1900-01-01 to "today" (inclusive).
///
/// Serialised as `"YYYY-MM-DD"`. `Debug` is redacted.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateOfBirth(NaiveDate);

impl DateOfBirth {
    /// The earliest accepted date of birth, 1900-01-01.
    pub const EARLIEST: NaiveDate = EARLIEST_BIRTH;

    /// Parses a `YYYY-MM-DD` date (exactly 10 characters, no surrounding whitespace) that is
    /// neither after `today` nor before 1900-01-01.
    ///
    /// # Errors
    ///
    /// A [`DomainError`] (which never contains the input) if the format or the calendar date is
    /// invalid, or the date is out of range.
    pub fn parse(input: &str, today: NaiveDate) -> Result<Self, DomainError> {
        let bytes = input.as_bytes();
        let well_formed = bytes.len() == 10
            && bytes.iter().enumerate().all(|(i, b)| match i {
                4 | 7 => *b == b'-',
                _ => b.is_ascii_digit(),
            });
        if !well_formed {
            return Err(DomainError::new(
                BIRTH_FIELD,
                "must be a date in YYYY-MM-DD format",
            ));
        }
        let date = NaiveDate::parse_from_str(input, "%Y-%m-%d")
            .map_err(|_| DomainError::new(BIRTH_FIELD, "must be a valid calendar date"))?;
        Self::new(date, today)
    }

    /// Checks a date: neither after `today` nor before 1900-01-01.
    ///
    /// # Errors
    ///
    /// A [`DomainError`] if the date is out of range.
    pub fn new(date: NaiveDate, today: NaiveDate) -> Result<Self, DomainError> {
        if date > today {
            return Err(DomainError::new(BIRTH_FIELD, "must not be in the future"));
        }
        Self::from_db(date)
    }

    /// Accepts a stored date: only checks it is from 1900-01-01 to 9999-12-31 (no check against
    /// "today", which may differ between time zones).
    ///
    /// # Errors
    ///
    /// A [`DomainError`] if the date is out of range.
    pub fn from_db(date: NaiveDate) -> Result<Self, DomainError> {
        if date < EARLIEST_BIRTH {
            return Err(DomainError::new(
                BIRTH_FIELD,
                "must not be before 1900-01-01",
            ));
        }
        if date > LATEST_STORED {
            return Err(DomainError::new(
                BIRTH_FIELD,
                "must not be after 9999-12-31",
            ));
        }
        Ok(Self(date))
    }

    /// The date.
    #[must_use]
    pub const fn date(&self) -> NaiveDate {
        self.0
    }

    /// The age in full years on `today` (0 if `today` is before the date). Someone born on
    /// 29 February completes a year on 1 March in non-leap years.
    #[must_use]
    pub const fn age_on(&self, today: NaiveDate) -> u32 {
        match today.years_since(self.0) {
            Some(years) => years,
            None => 0,
        }
    }
}

impl fmt::Debug for DateOfBirth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DateOfBirth(<redacted>)")
    }
}

impl Serialize for DateOfBirth {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0.format("%Y-%m-%d"))
    }
}

impl Decode for DateOfBirth {
    fn decode(value: &DbValue) -> Result<Self, PgError> {
        match value {
            DbValue::Date((year, month, day)) => {
                // Not `NaiveDate::decode`: its error message prints the date.
                let date = NaiveDate::from_ymd_opt(*year, u32::from(*month), u32::from(*day))
                    .ok_or_else(|| {
                        invalid_in_db(DomainError::new(
                            BIRTH_FIELD,
                            "must be a valid calendar date",
                        ))
                    })?;
                Self::from_db(date).map_err(invalid_in_db)
            }
            _ => Err(wrong_db_type(BIRTH_FIELD, "date")),
        }
    }
}

impl From<DateOfBirth> for ParameterValue {
    fn from(value: DateOfBirth) -> Self {
        value.0.into()
    }
}

impl From<&DateOfBirth> for ParameterValue {
    fn from(value: &DateOfBirth) -> Self {
        value.0.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad test date {y}-{m}-{d}"))
    }

    const TODAY: (i32, u32, u32) = (2025, 6, 15);

    fn today() -> NaiveDate {
        date(TODAY.0, TODAY.1, TODAY.2)
    }

    fn msg<T>(r: Result<T, DomainError>) -> &'static str {
        match r {
            Ok(_) => "<accepted>",
            Err(e) => e.message(),
        }
    }

    // ---------------------------------------------------------------- UserName

    #[test]
    fn user_name_accepts_and_trims() {
        assert_eq!(
            UserName::parse("Ada").map(UserName::into_string),
            Ok("Ada".to_owned())
        );
        assert_eq!(
            UserName::parse("  Ada Lovelace\u{a0}\u{2003}\n").map(UserName::into_string),
            Ok("Ada Lovelace".to_owned())
        );
        assert_eq!(
            UserName::parse("Zoë 李").map(UserName::into_string),
            Ok("Zoë 李".to_owned())
        );
        assert_eq!(UserName::parse("x").map(|n| n.as_str().len()), Ok(1));
    }

    #[test]
    fn names_refuse_format_characters_but_stored_ones_still_read() {
        for bad in [
            "Ada\u{202e}",
            "A\u{200b}da",
            "\u{2066}Ada\u{2069}",
            "Ad\u{ad}a",
            "\u{feff}Ada",
        ] {
            assert_eq!(msg(UserName::parse(bad)), FORMAT_CHARACTER);
            assert_eq!(msg(Profession::parse(bad)), FORMAT_CHARACTER);
        }
        assert!(UserName::decode(&DbValue::Str("Ada\u{202e}".into())).is_ok());
        assert!(Profession::decode(&DbValue::Str("A\u{200b}da".into())).is_ok());
    }

    #[test]
    fn user_name_rejects() {
        assert_eq!(msg(UserName::parse("")), "must not be empty");
        assert_eq!(msg(UserName::parse(" \t\n\u{3000}")), "must not be empty");
        assert_eq!(
            msg(UserName::parse("Ada\u{0}")),
            "must not contain control characters"
        );
        assert_eq!(
            msg(UserName::parse("A\nB")),
            "must not contain control characters"
        );
        assert_eq!(
            msg(UserName::parse("A\u{7f}B")),
            "must not contain control characters"
        );
        assert_eq!(UserName::parse("").map_err(|e| e.field()), Err("name"));
    }

    #[test]
    fn user_name_length_boundary_counts_chars() {
        let n100 = "é".repeat(100); // 200 bytes, 100 chars
        assert_eq!(
            UserName::parse(&n100).map(UserName::into_string),
            Ok(n100.clone())
        );
        assert_eq!(
            UserName::parse(&format!("  {n100}  ")).map(UserName::into_string),
            Ok(n100)
        );
        assert_eq!(
            msg(UserName::parse(&"é".repeat(101))),
            "must be at most 100 characters"
        );
        assert_eq!(
            msg(UserName::parse(&"a".repeat(101))),
            "must be at most 100 characters"
        );
    }

    #[test]
    fn user_name_debug_serialize_db() {
        let n = UserName::parse("Secret Person");
        let dbg = format!("{n:?}");
        assert_eq!(dbg, "Ok(UserName(<redacted>))");
        assert_eq!(
            serde_json::to_string(&n.ok()).ok().as_deref(),
            Some("\"Secret Person\"")
        );
        assert_eq!(
            UserName::decode(&DbValue::Str("Bob".into()))
                .map(UserName::into_string)
                .ok(),
            Some("Bob".to_owned())
        );
        let err = UserName::decode(&DbValue::Str("   ".into()))
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("must not be empty")));
        assert!(UserName::decode(&DbValue::Int64(3)).is_err());
        let p: Option<ParameterValue> = UserName::parse("Bob").ok().map(Into::into);
        assert!(matches!(p, Some(ParameterValue::Str(ref s)) if s == "Bob"));
        assert_eq!("  Bob ".parse::<UserName>(), UserName::parse("Bob"));
    }

    // ---------------------------------------------------------------- Profession

    #[test]
    fn profession_rules() {
        assert_eq!(
            Profession::parse("  Nurse ").map(Profession::into_string),
            Ok("Nurse".to_owned())
        );
        assert_eq!(
            msg(Profession::parse("")),
            "must not be empty; use null to clear"
        );
        assert_eq!(
            msg(Profession::parse("   ")),
            "must not be empty; use null to clear"
        );
        assert_eq!(
            Profession::parse(" ").map_err(|e| e.to_string()),
            Err("profession must not be empty; use null to clear".to_owned())
        );
        let p100 = "p".repeat(100);
        assert_eq!(
            Profession::parse(&p100).map(Profession::into_string),
            Ok(p100)
        );
        assert_eq!(
            msg(Profession::parse(&"p".repeat(101))),
            "must be at most 100 characters"
        );
        assert_eq!(
            msg(Profession::parse("a\u{1b}b")),
            "must not contain control characters"
        );
        assert_eq!(
            format!("{:?}", Profession::parse("Spy")),
            "Ok(Profession(<redacted>))"
        );
        assert_eq!(
            serde_json::to_string(&Profession::parse("Spy").ok())
                .ok()
                .as_deref(),
            Some("\"Spy\"")
        );
        assert!(Profession::decode(&DbValue::Str("Baker".into())).is_ok());
        assert!(Profession::decode(&DbValue::Str(String::new())).is_err());
        assert_eq!(
            Option::<Profession>::decode(&DbValue::DbNull).ok(),
            Some(None)
        );
    }

    // ---------------------------------------------------------------- ProfilePicture

    #[test]
    fn profile_picture_accepts_and_keeps_input() {
        for ok in [
            "https://example.com/a.png",
            "http://example.com",
            "HTTPS://Example.COM/Pic.JPG?size=200&x=%20y#frag",
            "https://cdn.example.co.uk:8443/u/1/avatar.webp",
            "https://127.0.0.1/a.png",
            "https://[::1]/a.png",
        ] {
            assert_eq!(
                ProfilePicture::parse(ok).map(|p| p.as_str().to_owned()),
                Ok(ok.to_owned()),
                "{ok}"
            );
        }
        assert_eq!(
            ProfilePicture::parse("  https://example.com/a.png\n").map(ProfilePicture::into_string),
            Ok("https://example.com/a.png".to_owned())
        );
    }

    #[test]
    fn profile_picture_rejects() {
        let cases = [
            ("", "must not be empty; use null to clear"),
            ("   ", "must not be empty; use null to clear"),
            ("example.com/a.png", "must be a valid URL"),
            ("/relative/a.png", "must be a valid URL"),
            ("https://", "must be a valid URL"),
            ("ftp://example.com/a.png", "must be an http or https URL"),
            ("javascript:alert(1)", "must be an http or https URL"),
            ("data:image/png;base64,AAAA", "must be an http or https URL"),
            ("file:///etc/passwd", "must be an http or https URL"),
            (
                "https://exa mple.com/a.png",
                "must not contain whitespace or control characters",
            ),
            (
                "https://example.com/a\tb.png",
                "must not contain whitespace or control characters",
            ),
            (
                "https://example.com/a\u{0}.png",
                "must not contain whitespace or control characters",
            ),
            // The url crate accepts these (normalising them), the database's CHECK
            // (`~* '^https?://'`) does not: the stored string is the input.
            ("http:example.com", "must start with http:// or https://"),
            ("http:/example.com", "must start with http:// or https://"),
            (
                "HTTPS:example.com/a.png",
                "must start with http:// or https://",
            ),
            (
                "https:\\\\cdn.example.com/x.png",
                "must start with http:// or https://",
            ),
            (
                "https:/\\cdn.example.com/x.png",
                "must start with http:// or https://",
            ),
            (
                "https://cdn.example.com\\x.png",
                "must not contain backslashes",
            ),
            ("http://\\example.com/", "must not contain backslashes"),
        ];
        for (input, expected) in cases {
            assert_eq!(msg(ProfilePicture::parse(input)), expected, "{input:?}");
        }
    }

    #[test]
    fn profile_picture_length_boundary() {
        let prefix = "https://example.com/";
        let u255 = format!("{prefix}{}", "a".repeat(255 - prefix.len()));
        assert_eq!(u255.chars().count(), 255);
        assert_eq!(
            ProfilePicture::parse(&u255).map(ProfilePicture::into_string),
            Ok(u255)
        );
        let u256 = format!("{prefix}{}", "a".repeat(256 - prefix.len()));
        assert_eq!(
            msg(ProfilePicture::parse(&u256)),
            "must be at most 255 characters"
        );
    }

    #[test]
    fn profile_picture_debug_serialize_db() {
        let p = ProfilePicture::parse("https://example.com/me.png");
        assert_eq!(format!("{p:?}"), "Ok(ProfilePicture(<redacted>))");
        assert_eq!(
            serde_json::to_string(&p.ok()).ok().as_deref(),
            Some("\"https://example.com/me.png\"")
        );
        assert!(ProfilePicture::decode(&DbValue::Str("https://e.com/x".into())).is_ok());
        let err = ProfilePicture::decode(&DbValue::Str("ftp://private.example/x".into()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("http or https") && !err.contains("private"),
            "{err}"
        );
    }

    // ---------------------------------------------------------------- DateOfBirth

    #[test]
    fn date_of_birth_parse_accepts() {
        let d = DateOfBirth::parse("1990-04-23", today());
        assert_eq!(d.map(|d| d.date()), Ok(date(1990, 4, 23)));
        assert_eq!(
            DateOfBirth::parse("2000-02-29", today()).map(|d| d.date()),
            Ok(date(2000, 2, 29))
        );
    }

    #[test]
    fn date_of_birth_format_errors() {
        for bad in [
            "",
            "1990-4-23",
            "1990-04-3",
            "90-04-23",
            "1990/04/23",
            "19900423",
            " 1990-04-23",
            "1990-04-23 ",
            "1990-04-23T00:00:00",
            "+990-04-23",
            "1990-+4-23",
            "１９９０-04-23",
            "abcd-ef-gh",
        ] {
            assert_eq!(
                msg(DateOfBirth::parse(bad, today())),
                "must be a date in YYYY-MM-DD format",
                "{bad:?}"
            );
        }
        for bad in [
            "1990-02-30",
            "1990-13-01",
            "1990-00-10",
            "1990-01-00",
            "2001-02-29",
        ] {
            assert_eq!(
                msg(DateOfBirth::parse(bad, today())),
                "must be a valid calendar date",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn date_of_birth_bounds() {
        assert_eq!(
            DateOfBirth::parse("1900-01-01", today()).map(|d| d.date()),
            Ok(date(1900, 1, 1))
        );
        assert_eq!(
            msg(DateOfBirth::parse("1899-12-31", today())),
            "must not be before 1900-01-01"
        );
        assert_eq!(
            DateOfBirth::parse("2025-06-15", today()).map(|d| d.date()),
            Ok(today())
        );
        assert_eq!(
            msg(DateOfBirth::parse("2025-06-16", today())),
            "must not be in the future"
        );
        assert_eq!(
            DateOfBirth::new(today(), today()).map(|d| d.date()),
            Ok(today())
        );
        assert_eq!(
            msg(DateOfBirth::new(date(2025, 6, 16), today())),
            "must not be in the future"
        );
        assert_eq!(
            msg(DateOfBirth::new(date(1899, 12, 31), today())),
            "must not be before 1900-01-01"
        );
        assert_eq!(DateOfBirth::EARLIEST, date(1900, 1, 1));
        assert_eq!(
            DateOfBirth::parse("2030-01-01", today()).map_err(|e| e.to_string()),
            Err("date of birth must not be in the future".to_owned())
        );
    }

    #[test]
    fn date_of_birth_from_db_skips_future_check() {
        assert_eq!(
            DateOfBirth::from_db(date(2100, 1, 1)).map(|d| d.date()),
            Ok(date(2100, 1, 1))
        );
        assert!(DateOfBirth::from_db(date(1899, 12, 31)).is_err());
        assert!(DateOfBirth::from_db(date(10000, 1, 1)).is_err());
    }

    #[test]
    fn age_on_boundaries() {
        let born = DateOfBirth::new(date(1990, 6, 15), today()).map_err(|e| e.to_string());
        let age = |d: NaiveDate| born.as_ref().map(|b| b.age_on(d));
        assert_eq!(age(date(2025, 6, 14)), Ok(34)); // birthday eve
        assert_eq!(age(date(2025, 6, 15)), Ok(35)); // birthday
        assert_eq!(age(date(2025, 6, 16)), Ok(35));
        assert_eq!(age(date(1990, 6, 15)), Ok(0)); // day of birth
        assert_eq!(age(date(1991, 6, 14)), Ok(0));
        assert_eq!(age(date(1991, 6, 15)), Ok(1));
        assert_eq!(age(date(1980, 1, 1)), Ok(0)); // before birth

        let leap = DateOfBirth::new(date(2000, 2, 29), today()).map_err(|e| e.to_string());
        let age = |d: NaiveDate| leap.as_ref().map(|b| b.age_on(d));
        assert_eq!(age(date(2001, 2, 28)), Ok(0));
        assert_eq!(age(date(2001, 3, 1)), Ok(1));
        assert_eq!(age(date(2003, 2, 28)), Ok(2));
        assert_eq!(age(date(2003, 3, 1)), Ok(3));
        assert_eq!(age(date(2004, 2, 28)), Ok(3)); // leap year: eve
        assert_eq!(age(date(2004, 2, 29)), Ok(4)); // leap year: birthday
        assert_eq!(age(date(2004, 3, 1)), Ok(4));
    }

    #[test]
    fn date_of_birth_debug_serialize_db() {
        let d = DateOfBirth::parse("1901-02-03", today());
        assert_eq!(format!("{d:?}"), "Ok(DateOfBirth(<redacted>))");
        assert_eq!(
            serde_json::to_string(&d.ok()).ok().as_deref(),
            Some("\"1901-02-03\"")
        );

        let decoded = DateOfBirth::decode(&DbValue::Date((1985, 7, 9)));
        assert_eq!(decoded.map(|d| d.date()).ok(), Some(date(1985, 7, 9)));
        let err = DateOfBirth::decode(&DbValue::Date((1885, 7, 9)))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("before 1900") && !err.contains("1885"),
            "{err}"
        );
        let err = DateOfBirth::decode(&DbValue::Date((1987, 2, 30)))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("calendar date") && !err.contains("1987"),
            "{err}"
        );
        assert!(DateOfBirth::decode(&DbValue::Str("1985-07-09".into())).is_err());

        let p: Option<ParameterValue> = DateOfBirth::from_db(date(1985, 7, 9)).ok().map(Into::into);
        assert!(matches!(p, Some(ParameterValue::Date((1985, 7, 9)))));
    }

    // ---------------------------------------------------------------- properties

    /// Age by definition: count the anniversaries (29 Feb -> 1 Mar in non-leap years) reached.
    fn reference_age(born: NaiveDate, today: NaiveDate) -> u32 {
        use chrono::Datelike;
        let mut years = 0;
        loop {
            let y = born.year() + years + 1;
            let anniversary = NaiveDate::from_ymd_opt(y, born.month(), born.day())
                .unwrap_or_else(|| date(y, 3, 1));
            if anniversary > today {
                return u32::try_from(years).unwrap_or(0);
            }
            years += 1;
        }
    }

    fn any_birth_date() -> impl Strategy<Value = NaiveDate> {
        let span = (today() - DateOfBirth::EARLIEST).num_days();
        (0..=span).prop_map(|days| DateOfBirth::EARLIEST + chrono::Duration::days(days))
    }

    proptest! {
        #[test]
        fn names_round_trip_and_are_idempotent(s in "\\PC{1,100}") {
            let expected = s.trim();
            match UserName::parse(&s) {
                Ok(n) => {
                    prop_assert_eq!(n.as_str(), expected);
                    prop_assert_eq!(UserName::parse(n.as_str()), Ok(n.clone()));
                    let p = Profession::parse(&s);
                    prop_assert_eq!(p.as_ref().map(Profession::as_str), Ok(expected));
                    if let Ok(p) = p {
                        prop_assert_eq!(Profession::parse(p.as_str()), Ok(p.clone()));
                    }
                }
                Err(e) => prop_assert!(expected.is_empty(), "{} for {:?}", e, s),
            }
        }

        #[test]
        fn names_longer_than_100_are_rejected(s in "[^\\s\\p{Cc}]{101,300}") {
            prop_assert_eq!(msg(UserName::parse(&s)), "must be at most 100 characters");
            prop_assert_eq!(msg(Profession::parse(&s)), "must be at most 100 characters");
        }

        #[test]
        fn parsers_never_panic(s in any::<String>()) {
            if let Ok(n) = UserName::parse(&s) {
                prop_assert_eq!(UserName::parse(n.as_str()), Ok(n.clone()));
            }
            if let Ok(p) = Profession::parse(&s) {
                prop_assert_eq!(Profession::parse(p.as_str()), Ok(p.clone()));
            }
            if let Ok(p) = ProfilePicture::parse(&s) {
                prop_assert_eq!(ProfilePicture::parse(p.as_str()), Ok(p.clone()));
            }
            if let Ok(d) = DateOfBirth::parse(&s, today()) {
                prop_assert_eq!(d.date().format("%Y-%m-%d").to_string(), s);
            }
        }

        #[test]
        fn date_shaped_strings_never_panic(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}") {
            if let Ok(d) = DateOfBirth::parse(&s, today()) {
                prop_assert_eq!(d.date().format("%Y-%m-%d").to_string(), s);
                prop_assert!(d.date() >= DateOfBirth::EARLIEST && d.date() <= today());
            }
        }

        #[test]
        fn generated_urls_round_trip(
            scheme in "https?|HTTPS?",
            host in "([a-z0-9]{1,20}\\.){0,3}[a-z][a-z0-9]{0,10}",
            path in "(/[A-Za-z0-9._~%-]{0,20}){0,4}",
        ) {
            let raw = format!("{scheme}://{host}{path}");
            let p = ProfilePicture::parse(&format!(" {raw} "));
            prop_assert_eq!(p.as_ref().map(ProfilePicture::as_str), Ok(raw.as_str()));
            if let Ok(p) = p {
                prop_assert_eq!(ProfilePicture::parse(p.as_str()), Ok(p.clone()));
            }
        }

        #[test]
        fn accepted_pictures_satisfy_the_database_check(
            prefix in "(https?|HTTPS?|hTtP)(://|:/|:|:\\\\|:/\\\\|:\\\\/|///)?",
            rest in "[a-zA-Z0-9./\\\\:@%?#=&_~\\[\\]-]{0,40}",
        ) {
            let input = format!("{prefix}{rest}");
            if let Ok(p) = ProfilePicture::parse(&input) {
                // ck_users_profile_picture_url: char_length <= 255 AND ~* '^https?://'
                let s = p.as_str();
                let lower = s.to_ascii_lowercase();
                prop_assert!(s.chars().count() <= 255);
                prop_assert!(
                    lower.starts_with("http://") || lower.starts_with("https://"),
                    "{:?}", s
                );
                prop_assert!(!s.contains('\\'), "{:?}", s);
            }
        }

        #[test]
        fn valid_birth_dates_round_trip(d in any_birth_date()) {
            let text = d.format("%Y-%m-%d").to_string();
            let parsed = DateOfBirth::parse(&text, today());
            prop_assert_eq!(parsed.map(|b| b.date()), Ok(d));
            prop_assert_eq!(DateOfBirth::new(d, today()).map(|b| b.date()), Ok(d));
            if let Ok(b) = parsed {
                // idempotent through the serialised form
                let json = serde_json::to_string(&b).unwrap_or_default();
                prop_assert_eq!(json, format!("\"{text}\""));
                prop_assert_eq!(DateOfBirth::parse(&text, today()), Ok(b));
                prop_assert_eq!(DateOfBirth::from_db(b.date()), Ok(b));
            }
        }

        #[test]
        fn out_of_range_dates_are_rejected(days in 1i64..100_000) {
            let future = today() + chrono::Duration::days(days);
            prop_assert_eq!(
                msg(DateOfBirth::new(future, today())),
                "must not be in the future"
            );
            let past = DateOfBirth::EARLIEST - chrono::Duration::days(days);
            prop_assert_eq!(msg(DateOfBirth::new(past, today())), "must not be before 1900-01-01");
        }

        #[test]
        fn age_matches_reference(born in any_birth_date(), offset in 0i64..40_000) {
            let Ok(b) = DateOfBirth::new(born, today()) else {
                return Err(TestCaseError::fail("generated date rejected"));
            };
            let on = born + chrono::Duration::days(offset);
            prop_assert_eq!(b.age_on(on), reference_age(born, on));
            if offset > 0 {
                prop_assert_eq!(b.age_on(born - chrono::Duration::days(offset)), 0);
            }
        }

        #[test]
        fn errors_never_echo_input(s in "[A-Za-z0-9 ./:\\-\\x00-\\x1f\u{e9}]{4,150}#[A-Za-z0-9 ./:-]{3,150}") {
            for err in [
                UserName::parse(&s).err(),
                Profession::parse(&s).err(),
                ProfilePicture::parse(&s).err(),
                DateOfBirth::parse(&s, today()).err(),
            ]
            .into_iter()
            .flatten()
            {
                prop_assert!(!err.to_string().contains(&s));
                prop_assert!(!err.to_string().contains(s.trim()));
                let debug = format!("{err:?}");
                prop_assert!(!debug.contains(s.trim()));
            }
        }

        #[test]
        fn long_inputs_errors_never_echo(s in "[a-z]{101,400}") {
            for err in [
                UserName::parse(&s).err(),
                Profession::parse(&s).err(),
                ProfilePicture::parse(&format!("https://{s}.com/{s}")).err(),
            ]
            .into_iter()
            .flatten()
            {
                prop_assert!(!err.to_string().contains(&s));
            }
        }
    }
}
