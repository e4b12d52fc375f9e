//! The Spin variables more than one component reads, parsed in one place (the api's
//! [`super::api::config`] and the ingest component's [`super::ingest`] both use these):
//!
//! | variable                  | meaning                                                    |
//! |---------------------------|------------------------------------------------------------|
//! | `api_token`               | the operator's bearer token, ≥ [`MIN_TOKEN_CHARS`] characters (trimmed) |
//! | `outbound_allow_loopback` | `true` (any case, trimmed): fetches may reach 127.0.0.0/8, `::1`, `localhost` (tests only) |
//! | `youtube_origin`          | where YouTube is fetched from: an `http`/`https` origin     |
//! | `db_timeout_ms` and other `*_ms` | a number of milliseconds from 1 to a maximum ([`millis`]) |

/// A number of milliseconds from 1 to `max` from a variable (trimmed); `None` when unset,
/// not a number or out of range (the caller's default applies).
pub fn millis(value: Option<&str>, max: u64) -> Option<std::time::Duration> {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| (1..=max).contains(ms))
        .map(std::time::Duration::from_millis)
}

/// The shortest `api_token` the components serve with (after trimming), in characters.
pub const MIN_TOKEN_CHARS: usize = 16;

/// The operator's token from `api_token` (trimmed: a secret file usually ends in a newline),
/// or why the operator routes cannot be served (a constant that never contains the token):
/// empty, or shorter than [`MIN_TOKEN_CHARS`].
pub fn operator_token(value: &str) -> Result<&str, &'static str> {
    let token = value.trim();
    if token.is_empty() {
        Err("api_token is not set")
    } else if token.chars().nth(MIN_TOKEN_CHARS - 1).is_none() {
        Err("api_token is shorter than 16 characters")
    } else {
        Ok(token)
    }
}

/// `outbound_allow_loopback`: `true` only when it says so (any case, trimmed).
pub fn allow_loopback(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// An `http`/`https` origin with a host from a variable (trimmed); anything else is `None`
/// (the caller keeps the canonical origin).
pub fn origin(value: Option<&str>) -> Option<url::Url> {
    url::Url::parse(value?.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_token_is_trimmed_and_long_enough() {
        assert_eq!(
            operator_token("  0123456789abcdef\n"),
            Ok("0123456789abcdef")
        );
        assert_eq!(
            operator_token("ééééééééééééééé"),
            Err("api_token is shorter than 16 characters")
        );
        assert_eq!(operator_token("éééééééééééééééé"), Ok("éééééééééééééééé"));
        assert_eq!(operator_token(" \n\t"), Err("api_token is not set"));
    }

    #[test]
    fn loopback_and_origin() {
        assert!(allow_loopback(Some(" TRUE\n")));
        for value in [None, Some(""), Some("false"), Some("yes"), Some("1")] {
            assert!(!allow_loopback(value), "{value:?}");
        }
        assert_eq!(
            origin(Some(" http://127.0.0.1:8081 "))
                .as_ref()
                .map(url::Url::as_str),
            Some("http://127.0.0.1:8081/")
        );
        for value in [
            None,
            Some(""),
            Some("ftp://x"),
            Some("not a url"),
            Some("data:x"),
        ] {
            assert_eq!(origin(value), None, "{value:?}");
        }
    }
}
