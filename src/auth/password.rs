//! `Password`: a submitted password, Unicode-normalised (NFKC) and checked against the policy.
//!
//! Policy (registration and password change, [`Password::parse`]): 8 to 128 characters
//! (Unicode scalar values) after NFKC normalisation, no composition rules, and not one of the
//! 10,000 most common passwords (compared case-insensitively; the list is
//! `data/common-passwords.txt`, see `data/README.md` for its source and licence).
//!
//! Sign-in ([`Password::parse_for_login`]) normalises the same way but only enforces the upper
//! bound, so a stored password stays usable if the common list grows.
//!
//! Privacy: neither `Debug` nor any error shows the value; there is no `Display`.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;

/// Fewest characters a new password may have.
pub const MIN_CHARS: usize = 8;
/// Most characters a password may have.
pub const MAX_CHARS: usize = 128;

const COMMON_PASSWORDS_TEXT: &str = include_str!("../../data/common-passwords.txt");

/// The common-password list, lower-cased, built on first use.
static COMMON_PASSWORDS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    COMMON_PASSWORDS_TEXT
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.is_empty())
        .map(str::to_lowercase)
        .collect()
});

/// Why a submitted password was refused. Never contains the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than [`MIN_CHARS`] characters after normalisation.
    #[error("password must have at least 8 characters")]
    TooShort,
    /// More than [`MAX_CHARS`] characters after normalisation.
    #[error("password must have at most 128 characters")]
    TooLong,
    /// One of the most common passwords (in any letter case).
    #[error("password is too common")]
    TooCommon,
}

/// A password in NFKC form that passed the policy it was parsed with.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Parses a new password (registration, change): normalisation, length 8..=128, not common.
    pub fn parse(input: &str) -> Result<Self, PasswordError> {
        let normalised: String = input.nfkc().collect();
        let chars = normalised.chars().count();
        if chars < MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if chars > MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        if is_common(&normalised) {
            return Err(PasswordError::TooCommon);
        }
        Ok(Self(normalised))
    }

    /// Parses a password submitted to sign in: the same normalisation, and only the upper
    /// length bound (no stored password can be longer), so a verification compares like with
    /// like without re-applying the rest of the policy.
    pub fn parse_for_login(input: &str) -> Result<Self, PasswordError> {
        let normalised: String = input.nfkc().collect();
        if normalised.chars().count() > MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        Ok(Self(normalised))
    }

    /// The normalised password, for hashing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Whether `normalised` is in the common-password list, ignoring letter case.
fn is_common(normalised: &str) -> bool {
    COMMON_PASSWORDS.contains(&normalised.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_loaded() {
        // 10,000 lines, one of them empty; a few differ only in case.
        assert!(COMMON_PASSWORDS.len() > 9_900, "{}", COMMON_PASSWORDS.len());
        assert!(COMMON_PASSWORDS.contains("password"));
        assert!(!COMMON_PASSWORDS.contains(""));
    }

    #[test]
    fn seven_characters_are_refused_eight_accepted() {
        assert_eq!(Password::parse("kq7#vZp"), Err(PasswordError::TooShort));
        let password = Password::parse("kq7#vZp2").expect("8 characters");
        assert_eq!(password.expose(), "kq7#vZp2");
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // 8 characters, 16 bytes.
        assert!(Password::parse("жщфюйэьъ").is_ok());
        // 7 characters, 21 bytes.
        assert_eq!(
            Password::parse("漢字漢字漢字漢"),
            Err(PasswordError::TooShort)
        );
    }

    #[test]
    fn one_hundred_twenty_eight_accepted_one_hundred_twenty_nine_refused() {
        let at_max = "xK9".repeat(42) + "ab"; // 128
        assert_eq!(at_max.chars().count(), 128);
        assert!(Password::parse(&at_max).is_ok());
        let over = at_max + "c";
        assert_eq!(Password::parse(&over), Err(PasswordError::TooLong));
        assert_eq!(
            Password::parse_for_login(&over),
            Err(PasswordError::TooLong)
        );
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        for input in [
            "password",
            "PASSWORD",
            "PassWord",
            "12345678",
            "iloveyou",
            "Qwertyuiop",
        ] {
            assert_eq!(
                Password::parse(input),
                Err(PasswordError::TooCommon),
                "{input}"
            );
        }
    }

    #[test]
    fn common_check_applies_after_normalisation() {
        // Fullwidth letters normalise (NFKC) to ASCII "password".
        assert_eq!(
            Password::parse("ｐａｓｓｗｏｒｄ"),
            Err(PasswordError::TooCommon)
        );
    }

    #[test]
    fn normalisation_makes_equivalent_inputs_equal() {
        // "é" precomposed (U+00E9) and decomposed (e + U+0301); the ligature "ﬁ" and "fi".
        let composed = Password::parse("caf\u{e9}-lumi\u{e8}re").expect("valid");
        let decomposed = Password::parse("cafe\u{301}-lumie\u{300}re").expect("valid");
        assert_eq!(composed, decomposed);
        assert_eq!(
            Password::parse("\u{fb01}ve-gr8-kites").expect("valid"),
            Password::parse("five-gr8-kites").expect("valid")
        );
        // Login parsing normalises the same way.
        assert_eq!(
            Password::parse_for_login("cafe\u{301}-lumie\u{300}re").expect("valid"),
            composed
        );
    }

    #[test]
    fn length_is_measured_after_normalisation() {
        // "e\u{301}" is 2 scalar values before NFKC and 1 ("é") after: 11 before, 7 after.
        let input = "e\u{301}e\u{301}e\u{301}e\u{301}xyz";
        assert_eq!(input.chars().count(), 11);
        assert_eq!(Password::parse(input), Err(PasswordError::TooShort));
    }

    #[test]
    fn login_parsing_skips_the_registration_rules() {
        assert!(Password::parse_for_login("short").is_ok());
        assert!(Password::parse_for_login("password").is_ok());
    }

    #[test]
    fn debug_and_errors_do_not_show_the_value() {
        let password = Password::parse("kq7#vZp2-secret").expect("valid");
        let debug = format!("{password:?}");
        assert_eq!(debug, "Password(<redacted>)");
        for (input, error) in [
            ("abc", Password::parse("abc")),
            ("iloveyou", Password::parse("iloveyou")),
        ] {
            let error = error.expect_err("refused");
            assert!(!format!("{error}").contains(input));
            assert!(!format!("{error:?}").contains(input));
        }
    }
}
