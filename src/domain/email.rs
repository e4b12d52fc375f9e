//! [`Email`]: a syntactically valid, lower-cased email address.

use std::fmt;
use std::str::FromStr;

use email_address::EmailAddress;
use serde::{Serialize, Serializer};
use spin_sdk::pg::{DbValue, Decode, Error as PgError, ParameterValue};

use unicode_normalization::UnicodeNormalization;

use super::error::{DomainError, FORMAT_CHARACTER, decode_str, has_format_character, longer_than};

const FIELD: &str = "email";

/// A plain email address (`local@domain.tld`), trimmed, in Unicode NFC and lower-cased.
///
/// - surrounding whitespace is trimmed; the result is stored in Unicode normalisation form C
///   and lower-cased (`to_lowercase`, then NFC again), so equality, ordering and hashing are
///   case-insensitive and two spellings of the same characters (`é` precomposed, or `e` and
///   a combining accent) are one address. NFC, not NFKC: canonical equivalents are the same
///   text (RFC 6532 §3.1 and IDNA use NFC), while NFKC would change an address into another
///   mailbox's (`ﬁ` into `fi`, full-width letters into ASCII);
/// - no Unicode format character (category Cf: U+200B zero width space, U+00AD soft
///   hyphen, U+202E right-to-left override, U+FEFF, ...): an address holding one looks
///   identical to the address without it, so it is refused rather than removed;
/// - at most [`Email::MAX_CHARS`] characters;
/// - the syntax is checked with the `email_address` crate; a display name
///   (`Name <a@b.c>`) is not accepted;
/// - the domain part must contain a dot, and there must be no whitespace or control
///   character anywhere.
///
/// `Debug` does not print the address (it is personal data); use [`Email::as_str`] where the
/// address is actually needed.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Email(String);

impl Email {
    /// The maximum length, in characters (after trimming).
    pub const MAX_CHARS: usize = 255;

    /// Parses and normalises an email address.
    ///
    /// # Errors
    ///
    /// A [`DomainError`] (which never contains the input) if the address is empty, too long or
    /// not a valid plain address.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        Self::normalise(input, true)
    }

    /// [`Email::parse`], except that a format character is accepted: for addresses already
    /// stored before they were refused, which must still be readable.
    fn from_db(input: &str) -> Result<Self, DomainError> {
        Self::normalise(input, false)
    }

    fn normalise(input: &str, refuse_format: bool) -> Result<Self, DomainError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(DomainError::new(FIELD, "must not be empty"));
        }
        if longer_than(trimmed, Self::MAX_CHARS) {
            return Err(DomainError::new(FIELD, "must be at most 255 characters"));
        }
        if trimmed.chars().any(char::is_whitespace) {
            return Err(DomainError::new(FIELD, "must not contain whitespace"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(DomainError::new(
                FIELD,
                "must not contain control characters",
            ));
        }
        if refuse_format && has_format_character(trimmed) {
            return Err(DomainError::new(FIELD, FORMAT_CHARACTER));
        }
        let lower: String = trimmed
            .nfc()
            .collect::<String>()
            .to_lowercase()
            .nfc()
            .collect();
        // Lower-casing and normalising may lengthen a string (in chars).
        if longer_than(&lower, Self::MAX_CHARS) {
            return Err(DomainError::new(FIELD, "must be at most 255 characters"));
        }
        if !EmailAddress::is_valid(&lower) {
            return Err(DomainError::new(FIELD, "is not a valid email address"));
        }
        // `is_valid` accepted it, so there is an '@'; the domain is after the last one.
        let domain = lower.rsplit_once('@').map_or("", |(_, domain)| domain);
        if !domain.contains('.') {
            return Err(DomainError::new(
                FIELD,
                "must have a domain with a dot (e.g. example.com)",
            ));
        }
        Ok(Self(lower))
    }

    /// The normalised (trimmed, lower-cased) address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The normalised address, by value.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for Email {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

impl Serialize for Email {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl Decode for Email {
    fn decode(value: &DbValue) -> Result<Self, PgError> {
        decode_str(value, FIELD, Self::from_db)
    }
}

impl From<Email> for ParameterValue {
    fn from(value: Email) -> Self {
        ParameterValue::Str(value.0)
    }
}

impl From<&Email> for ParameterValue {
    fn from(value: &Email) -> Self {
        ParameterValue::Str(value.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(s: &str) -> String {
        match Email::parse(s) {
            Ok(e) => e.as_str().to_owned(),
            Err(err) => panic!("expected {s:?} to be accepted, got: {err}"),
        }
    }

    fn err(s: &str) -> DomainError {
        match Email::parse(s) {
            Ok(_) => panic!("expected {s:?} to be rejected"),
            Err(err) => err,
        }
    }

    /// `local@` + domain padded to exactly `total` characters.
    fn email_of_len(total: usize) -> String {
        // local part: 60 chars (the crate limits it to 64 bytes); labels of at most 63.
        let local = "a".repeat(60);
        let mut domain_len = total - local.len() - 1;
        let mut labels = Vec::new();
        while domain_len > 0 {
            // each label but the last is followed by a dot
            let take = domain_len.min(60);
            if take == domain_len {
                labels.push("b".repeat(take));
                domain_len = 0;
            } else {
                labels.push("b".repeat(take - 1));
                domain_len -= take;
            }
        }
        let email = format!("{local}@{}", labels.join("."));
        assert_eq!(email.chars().count(), total);
        email
    }

    #[test]
    fn accepts_and_normalises() {
        assert_eq!(ok("user@example.com"), "user@example.com");
        assert_eq!(
            ok("  User.Name+Tag@Example.COM \n"),
            "user.name+tag@example.com"
        );
        assert_eq!(ok("a@b.co"), "a@b.co");
        assert_eq!(
            ok("first.last@sub.domain.example.org"),
            "first.last@sub.domain.example.org"
        );
        assert_eq!(ok("ÉLODIE@EXEMPLE.FR"), "élodie@exemple.fr");
        assert_eq!(ok("o'brien@example.ie"), "o'brien@example.ie");
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "",
            "   ",
            "plainaddress",
            "@example.com",
            "user@",
            "user@localhost",
            "user@example",
            "user@.example.com",
            "user@example..com",
            "user@example.com.",
            "user.@example.com",
            ".user@example.com",
            "us..er@example.com",
            "user@@example.com",
            "user@exa mple.com",
            "us er@example.com",
            "\"us er\"@example.com",
            "user@example.com\u{0}",
            "Name <user@example.com>",
            "<user@example.com>",
            "user@-example.com",
            "user@example-.com",
        ] {
            err(bad);
        }
    }

    #[test]
    fn rejects_display_name_and_quoted_whitespace() {
        assert_eq!(
            err("John Doe <john@example.com>").message(),
            "must not contain whitespace"
        );
        assert_eq!(
            err("John<john@example.com>").message(),
            "is not a valid email address"
        );
    }

    #[test]
    fn specific_messages() {
        assert_eq!(err(" ").message(), "must not be empty");
        assert_eq!(
            err("a@localhost").message(),
            "must have a domain with a dot (e.g. example.com)"
        );
        assert_eq!(err("nope").message(), "is not a valid email address");
        assert_eq!(
            err("a@b.c\u{7}").message(),
            "must not contain control characters"
        );
        assert_eq!(err("a@b").field(), "email");
    }

    #[test]
    fn refuses_format_characters() {
        for bad in [
            "con\u{200b}foo@example.com",
            "confoo@example.com\u{202e}",
            "\u{202e}moc.elpmaxe@oof",
            "con\u{ad}foo@example.com",
            "con\u{2060}foo@example.com",
            "confoo@exam\u{200d}ple.com",
            "\u{feff}confoo@example.com",
            "confoo@example.com\u{200f}",
        ] {
            assert_eq!(
                err(bad).message(),
                FORMAT_CHARACTER,
                "{:?}",
                bad.escape_unicode().to_string()
            );
            assert_eq!(err(bad).field(), "email");
        }
        // Stored before the rule: still readable.
        let stored = Email::decode(&DbValue::Str("con\u{200b}foo@example.com".into()));
        assert!(stored.is_ok());
    }

    #[test]
    fn canonical_equivalents_are_one_address() {
        // `é` precomposed (U+00E9) and `e` + U+0301, in either case.
        assert_eq!(ok("\u{e9}lodie@example.fr"), "\u{e9}lodie@example.fr");
        assert_eq!(ok("e\u{301}lodie@example.fr"), "\u{e9}lodie@example.fr");
        assert_eq!(ok("E\u{301}LODIE@EXAMPLE.FR"), "\u{e9}lodie@example.fr");
        assert_eq!(ok("a@e\u{301}cole.fr"), "a@\u{e9}cole.fr");
        // Compatibility characters are not folded: another mailbox.
        assert_eq!(ok("\u{fb01}n@example.com"), "\u{fb01}n@example.com");
    }

    #[test]
    fn length_boundary_255_256() {
        let e255 = email_of_len(255);
        assert_eq!(ok(&e255), e255);
        // trimming happens before the length check
        assert_eq!(ok(&format!("  {e255}  ")), e255);
        let e256 = email_of_len(256);
        assert_eq!(err(&e256).message(), "must be at most 255 characters");
    }

    #[test]
    fn equality_is_case_insensitive() {
        assert_eq!(Email::parse("A@B.CO"), Email::parse("a@b.co"));
        assert_ne!(Email::parse("a@b.co"), Email::parse("b@b.co"));
    }

    #[test]
    fn debug_is_redacted() {
        let e = Email::parse("secret.person@example.com").map_err(|e| e.to_string());
        let dbg = format!("{e:?}");
        assert_eq!(dbg, "Ok(Email(<redacted>))");
        assert!(!dbg.contains("secret"));
    }

    #[test]
    fn serializes_as_plain_string() {
        let e = Email::parse("A@B.CO").map_err(|e| e.to_string());
        assert_eq!(
            serde_json::to_string(&e.ok()).ok().as_deref(),
            Some("\"a@b.co\"")
        );
    }

    #[test]
    fn from_str_matches_parse() {
        assert_eq!("A@B.CO".parse::<Email>(), Email::parse("a@b.co"));
    }

    #[test]
    fn db_decode_and_parameter() {
        let e = Email::decode(&DbValue::Str("A@B.CO".into())).map_err(|e| e.to_string());
        assert_eq!(e.as_ref().map(Email::as_str), Ok("a@b.co"));
        let bad = Email::decode(&DbValue::Str("not-an-email-address".into()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(bad.starts_with("error value decoding"), "{bad}");
        assert!(!bad.contains("not-an-email-address"), "{bad}");
        assert!(Email::decode(&DbValue::Int64(1)).is_err());
        assert_eq!(Option::<Email>::decode(&DbValue::DbNull).ok(), Some(None));

        let e = Email::parse("a@b.co").map_err(|e| e.to_string());
        let p: Option<ParameterValue> = e.ok().map(Into::into);
        assert!(matches!(p, Some(ParameterValue::Str(ref s)) if s == "a@b.co"));
    }

    fn local_part() -> impl Strategy<Value = String> {
        "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\\.[A-Za-z0-9_+-]{1,10}){0,2}"
    }

    fn domain_part() -> impl Strategy<Value = String> {
        proptest::collection::vec("[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", 2..5)
            .prop_map(|labels| labels.join("."))
    }

    proptest! {
        #[test]
        fn generated_valid_emails_round_trip_lower_case(
            local in local_part(),
            domain in domain_part(),
            pad_l in "[ \t\n]{0,3}",
            pad_r in "[ \t\n]{0,3}",
        ) {
            let raw = format!("{local}@{domain}");
            let parsed = Email::parse(&format!("{pad_l}{raw}{pad_r}"));
            prop_assert!(parsed.is_ok(), "{:?} rejected: {:?}", raw, parsed);
            let email = parsed.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(email.as_str(), raw.to_lowercase());
            prop_assert_eq!(email.as_str().to_lowercase(), email.as_str());
            // idempotent
            prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
        }

        #[test]
        fn parse_is_idempotent_on_arbitrary_input(s in "\\PC{0,40}@\\PC{0,40}") {
            if let Ok(email) = Email::parse(&s) {
                prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
                prop_assert!(email.as_str().chars().count() <= Email::MAX_CHARS);
                prop_assert!(!email.as_str().chars().any(char::is_whitespace));
            }
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = Email::parse(&s);
        }

        #[test]
        fn domain_without_dot_is_rejected(local in local_part(), label in "[a-z0-9]{1,20}") {
            let input = format!("{local}@{label}");
            prop_assert!(Email::parse(&input).is_err());
        }

        #[test]
        fn errors_never_echo_input(s in "[a-zA-Z0-9@. <>\"\\x00-\\x1f\u{e9}-]{8,300}") {
            if let Err(err) = Email::parse(&s) {
                let msg = err.to_string();
                prop_assert!(!msg.contains(&s));
                prop_assert!(!msg.contains(s.trim()) || s.trim().chars().count() < 8);
                let debug = format!("{err:?}");
                prop_assert!(!debug.contains(&s));
            }
        }

        #[test]
        fn too_long_is_rejected(extra in 1usize..200) {
            let domain = format!("{}.com", "b".repeat(50));
            let local = "a".repeat(60);
            // pad with more sub-domains until we exceed 255 chars
            let mut email = format!("{local}@{domain}");
            while email.chars().count() <= Email::MAX_CHARS + extra {
                email = format!("{local}@x{}.{}", "y".repeat(40), &email[local.len() + 1..]);
            }
            prop_assert_eq!(
                Email::parse(&email).map_err(|e| e.message()),
                Err("must be at most 255 characters")
            );
        }
    }
}
