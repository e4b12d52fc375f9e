//! Connection-string helpers.
//!
//! The address is a libpq key=value string (`host=... dbname=...`) or a URL
//! (`postgres://user:pass@host:port/db?sslmode=disable`). Both forms are passed to the host
//! as they are, except that two bounds are added when missing:
//!
//! - `connect_timeout` ([`with_connect_timeout`]): without it a connect to an unreachable
//!   host has no bound;
//! - `options=-c statement_timeout=N -c lock_timeout=N` ([`with_server_timeouts`]): the
//!   component stops waiting after `db_timeout_ms`, but without a server-side bound the
//!   statement would keep running (and might commit) after the client was told 503.

/// Adds `connect_timeout=<seconds>` (at least 1) unless the address sets one.
pub fn with_connect_timeout(address: &str, timeout_ms: u64) -> String {
    let address = address.trim();
    if address.contains("connect_timeout") {
        return address.to_owned();
    }
    let seconds = timeout_ms.div_ceil(1000).max(1);
    if is_url(address) {
        let separator = if address.contains('?') { '&' } else { '?' };
        format!("{address}{separator}connect_timeout={seconds}")
    } else {
        format!("{address} connect_timeout={seconds}")
    }
}

/// The server-side statement and lock timeout for a component timeout of `timeout_ms`:
/// 90 % of it (so the server gives up first and the error arrives within the component's
/// bound), at least 1 ms (0 would mean no timeout).
pub fn server_timeout_ms(timeout_ms: u64) -> u64 {
    (timeout_ms - timeout_ms / 10).max(1)
}

/// Adds `options=-c statement_timeout=N -c lock_timeout=N` (N from [`server_timeout_ms`],
/// in milliseconds), percent-encoded in a URL, quoted in key=value form.
///
/// An address that already sets `options` is returned unchanged: its author chose the
/// session settings (and may set these two there); merging into an arbitrary `options`
/// value would risk changing its meaning.
pub fn with_server_timeouts(address: &str, timeout_ms: u64) -> String {
    let address = address.trim();
    if sets_key(address, "options") {
        return address.to_owned();
    }
    let ms = server_timeout_ms(timeout_ms);
    if is_url(address) {
        let separator = if address.contains('?') { '&' } else { '?' };
        format!(
            "{address}{separator}options=-c%20statement_timeout%3D{ms}%20-c%20lock_timeout%3D{ms}"
        )
    } else {
        format!("{address} options='-c statement_timeout={ms} -c lock_timeout={ms}'")
    }
}

/// Whether `address` sets `key` (a URL query parameter, or a key=value pair).
fn sets_key(address: &str, key: &str) -> bool {
    if is_url(address) {
        address.split_once('?').is_some_and(|(_, query)| {
            query
                .split('&')
                .any(|pair| pair.split('=').next().is_some_and(|k| k.trim() == key))
        })
    } else {
        // A key starts the string or follows whitespace, and is followed by `=` (spaces
        // allowed around it). A value that merely contains the word does not count.
        address.match_indices(key).any(|(at, _)| {
            let starts_word = address[..at]
                .chars()
                .next_back()
                .is_none_or(char::is_whitespace);
            starts_word && address[at + key.len()..].trim_start().starts_with('=')
        })
    }
}

fn is_url(address: &str) -> bool {
    address.starts_with("postgres://") || address.starts_with("postgresql://")
}

/// The text that replaces a credential.
const REDACTED: &str = "***";

/// Removes credentials from a text that may contain connection strings, for logs:
///
/// - in a URL (`scheme://user:password@host...`), everything between `://` and the last `@`
///   before the next whitespace (so a password holding `@`, `:`, `/` or percent-escapes goes
///   with it): `postgres://***@host/db`;
/// - `password=value` pairs (key in any case, spaces allowed around `=`, also inside a URL's
///   query): an unquoted value up to the next whitespace, or a value quoted with `'` or `"`
///   (backslash escapes honoured) up to its closing quote, or to the end of the text if the
///   quote is never closed: `password=***`.
///
/// The text is read once, left to right, so a password that itself looks like `password=` or
/// `://` is removed as part of the credential it belongs to. When unsure, more is removed.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("://") {
            out.push_str("://");
            rest = after;
            let word_end = after.find(char::is_whitespace).unwrap_or(after.len());
            if let Some(at) = after[..word_end].rfind('@') {
                out.push_str(REDACTED);
                rest = &after[at..];
            }
            continue;
        }
        if let Some(value) = password_value(rest, out.chars().next_back()) {
            out.push_str(&rest[..value]);
            out.push_str(REDACTED);
            rest = &rest[value + value_len(&rest[value..])..];
            continue;
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

/// If `text` starts with a `password` key (at a word start, any case) and `=`, the byte
/// offset of its value.
fn password_value(text: &str, before: Option<char>) -> Option<usize> {
    const KEY: &str = "password";
    if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let head = text.get(..KEY.len())?;
    if !head.eq_ignore_ascii_case(KEY) {
        return None;
    }
    let after_key = &text[KEY.len()..];
    let eq = after_key.trim_start_matches([' ', '\t']);
    let value = eq.strip_prefix('=')?;
    let value = value.trim_start_matches([' ', '\t']);
    Some(text.len() - value.len())
}

/// The length in bytes of a `password=` value at the start of `value`: quoted (`'` or `"`,
/// with backslash escapes, to the closing quote or the end) or up to the next whitespace.
fn value_len(value: &str) -> usize {
    let Some(quote) = value.chars().next().filter(|c| matches!(c, '\'' | '"')) else {
        return value.find(char::is_whitespace).unwrap_or(value.len());
    };
    let mut escaped = false;
    for (i, c) in value.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == quote {
            return i + c.len_utf8();
        }
    }
    value.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_connect_timeout_to_both_forms() {
        assert_eq!(
            with_connect_timeout("postgres://u@h:5432/db", 2000),
            "postgres://u@h:5432/db?connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?sslmode=disable", 2500),
            "postgres://u@h/db?sslmode=disable&connect_timeout=3"
        );
        assert_eq!(
            with_connect_timeout("host=h dbname=db", 100),
            "host=h dbname=db connect_timeout=1"
        );
        assert_eq!(
            with_connect_timeout("host=h connect_timeout=9", 100),
            "host=h connect_timeout=9"
        );
    }

    #[test]
    fn adds_server_timeouts_to_both_forms() {
        assert_eq!(server_timeout_ms(2000), 1800);
        assert_eq!(server_timeout_ms(1), 1);
        assert_eq!(server_timeout_ms(9), 9);
        assert_eq!(server_timeout_ms(60_000), 54_000);
        assert_eq!(
            with_server_timeouts("postgres://u@h:5432/db", 2000),
            "postgres://u@h:5432/db?options=-c%20statement_timeout%3D1800%20-c%20lock_timeout%3D1800"
        );
        assert_eq!(
            with_server_timeouts(" postgres://u@h/db?sslmode=disable\n", 500),
            "postgres://u@h/db?sslmode=disable&options=-c%20statement_timeout%3D450%20-c%20lock_timeout%3D450"
        );
        assert_eq!(
            with_server_timeouts("host=h dbname=db", 1000),
            "host=h dbname=db options='-c statement_timeout=900 -c lock_timeout=900'"
        );
        // Both bounds together, in either order.
        assert_eq!(
            with_server_timeouts(&with_connect_timeout("host=h", 2000), 2000),
            "host=h connect_timeout=2 options='-c statement_timeout=1800 -c lock_timeout=1800'"
        );
        assert_eq!(
            with_connect_timeout(&with_server_timeouts("postgres://h/db", 2000), 2000),
            "postgres://h/db?options=-c%20statement_timeout%3D1800%20-c%20lock_timeout%3D1800&connect_timeout=2"
        );
    }

    #[test]
    fn leaves_an_address_with_its_own_options_alone() {
        for address in [
            "host=h options='-c search_path=app'",
            "host=h options = -csearch_path=app",
            "options=-cwork_mem=64MB host=h",
            "postgres://h/db?options=-c%20work_mem%3D64MB",
            "postgres://h/db?sslmode=disable&options=-cx%3Dy",
        ] {
            assert_eq!(with_server_timeouts(address, 2000), address, "{address}");
        }
        // The word elsewhere is not the key.
        assert_eq!(
            with_server_timeouts("host=h dbname=options", 1000),
            "host=h dbname=options options='-c statement_timeout=900 -c lock_timeout=900'"
        );
        assert_eq!(
            with_server_timeouts("postgres://h/options?application_name=options", 1000),
            "postgres://h/options?application_name=options&options=-c%20statement_timeout%3D900%20-c%20lock_timeout%3D900"
        );
    }

    #[test]
    fn redacts_quoted_and_url_passwords() {
        let cases = [
            ("x password='a b' dbname=d", "x password=*** dbname=d"),
            ("x password=\"x y\" dbname=d", "x password=*** dbname=d"),
            ("password='it\\'s me' host=h", "password=*** host=h"),
            ("password=\"say \\\"hi\\\"\" host=h", "password=*** host=h"),
            ("PassWord = 'a b' host=h", "PassWord = *** host=h"),
            ("password='never closed host=h", "password=***"),
            ("password= plain host=h", "password= *** host=h"),
            ("mypassword=keep", "mypassword=keep"),
            (
                "password authentication failed",
                "password authentication failed",
            ),
            (
                "connect postgres://u:p@ss@host:5432/db failed",
                "connect postgres://***@host:5432/db failed",
            ),
            (
                "postgres://u:p%40ss@host/db?sslmode=disable",
                "postgres://***@host/db?sslmode=disable",
            ),
            ("postgres://u:a/b?c#d@host/db", "postgres://***@host/db"),
            (
                "postgres://host/db?password=s3cr%20t&x=1 y",
                "postgres://host/db?password=*** y",
            ),
            (
                "postgres://host/db is down, mail a@b",
                "postgres://host/db is down, mail a@b",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(redact(input), expected, "{input:?}");
        }
    }

    #[test]
    fn redacts_credentials() {
        let text = "error connecting to postgres://keemu:s3cret@db:5432/keemu password=s3cret x";
        let shown = redact(text);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("db:5432/keemu"), "{shown}");
    }

    /// `c` percent-encoded (UTF-8 bytes).
    fn percent(c: char) -> String {
        let mut buf = [0u8; 4];
        c.encode_utf8(&mut buf)
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect()
    }

    /// Escapes `\` and `quote` with a backslash.
    fn escaped(password: &str, quote: char) -> String {
        password
            .chars()
            .flat_map(|c| {
                let escape = (c == '\\' || c == quote).then_some('\\');
                escape.into_iter().chain(std::iter::once(c))
            })
            .collect()
    }

    /// A connection string in one of several forms, holding `password`.
    fn connection_string(form: u8, password: &str) -> String {
        let light: String = password
            .chars()
            .map(|c| {
                if c.is_whitespace() || c == '%' {
                    percent(c)
                } else {
                    c.to_string()
                }
            })
            .collect();
        let full: String = password
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_string()
                } else {
                    percent(c)
                }
            })
            .collect();
        let plain = !password
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '\'' | '"' | '\\'));
        match form {
            0 => format!("postgres://keemu:{light}@dbhost.example:5432/keemu?sslmode=disable"),
            1 => format!("postgresql://keemu:{full}@dbhost.example:5432/keemu"),
            2 => format!(
                "host=dbhost.example user=keemu password='{}' dbname=keemu",
                escaped(password, '\'')
            ),
            3 => format!(
                "host=dbhost.example user=keemu password=\"{}\" dbname=keemu",
                escaped(password, '"')
            ),
            4 if plain => format!("host=dbhost.example password={password} dbname=keemu"),
            4 => format!(
                "host=dbhost.example password='{}' dbname=keemu",
                escaped(password, '\'')
            ),
            5 => format!("postgres://dbhost.example:5432/keemu?password={full}&sslmode=disable"),
            _ => format!(
                "host=dbhost.example PASSWORD = '{}' dbname=keemu",
                escaped(password, '\'')
            ),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(256))]

        /// The redacted text does not depend on the password at all, so no part of it can
        /// show; and the password is not in it (unless the rest of the text holds it).
        #[test]
        fn passwords_never_survive_redaction(
            password in "[ -~\u{e9}\u{4e2d}]{1,24}",
            form in 0u8..7,
            prefix in "[A-Za-z0-9 .,:;()<>!?@#/_-]{0,30}",
            suffix in "[A-Za-z0-9 .,:;()<>!?@#/_-]{0,30}",
        ) {
            let text = |pw: &str| format!("{prefix} {} {suffix}", connection_string(form, pw));
            let shown = redact(&text(&password));
            proptest::prop_assert_eq!(&shown, &redact(&text("pw0")));
            let rest = redact(&text(""));
            if password.chars().count() >= 4 && !rest.contains(&password) {
                proptest::prop_assert!(!shown.contains(&password), "{}", shown);
            }
            // What is not a credential stays readable.
            proptest::prop_assert!(shown.contains("dbhost.example"), "{}", shown);
            proptest::prop_assert!(shown.contains("keemu"), "{}", shown);
        }
    }
}
