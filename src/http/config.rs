//! The Spin variables more than one component reads, parsed in one place (the api's
//! [`super::api::config`] and the ingest component's [`super::ingest`] both use these):
//!
//! | variable                  | meaning                                                    |
//! |---------------------------|------------------------------------------------------------|
//! | `api_token`               | the operator's bearer token, ≥ [`MIN_TOKEN_CHARS`] characters (trimmed) |
//! | `outbound_allow_loopback` | `true` (any case, trimmed): fetches may reach 127.0.0.0/8, `::1`, `localhost` (tests only) |
//! | `youtube_origin`          | where YouTube is fetched from: an `http`/`https` origin     |
//! | `db_timeout_ms` and other `*_ms` | a number of milliseconds from 1 to a maximum ([`millis`]) |
//! | `link_key`, `public_base_url` | signed links ([`links`]): the key (secret, base64 of ≥ 32 bytes; empty: no links) and where the service is reached from outside |

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

/// Where the service is reached from outside when `public_base_url` is unset.
pub const DEFAULT_PUBLIC_BASE_URL: &str = "http://127.0.0.1:3000";

/// The signed links from `link_key` and `public_base_url`: `Ok(None)` when `link_key` is
/// unset or empty (links are disabled: no `/links/...` route answers, e-mails carry none),
/// or why they cannot be built (a constant that never contains the key).
pub fn links(
    link_key: Option<&str>,
    public_base_url: Option<&str>,
) -> Result<Option<crate::digests::links::Links>, &'static str> {
    use crate::auth::link::{KeyError, LinkKey};
    let Some(key) = link_key.map(str::trim).filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    let key = LinkKey::parse(key).map_err(|e| match e {
        KeyError::NotBase64 => "link_key is not base64",
        KeyError::TooShort => "link_key is shorter than 32 bytes",
    })?;
    let base = public_base_url
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .unwrap_or(DEFAULT_PUBLIC_BASE_URL);
    crate::digests::links::Links::new(base, key)
        .map(Some)
        .map_err(|_| "public_base_url is not an absolute http(s) URL without query or fragment")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_need_a_key_and_a_web_base_url() {
        const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"; // 32 bytes
        assert!(matches!(links(None, None), Ok(None)));
        assert!(matches!(links(Some(" \n"), Some("ftp://x")), Ok(None)));
        let default = links(Some(KEY), None).unwrap().unwrap();
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(
            default
                .digest(1, now)
                .starts_with("http://127.0.0.1:3000/links/digest?token=1.")
        );
        let own = links(Some(KEY), Some(" https://keemu.example/app/\n"))
            .unwrap()
            .unwrap();
        assert!(
            own.digest(1, now)
                .starts_with("https://keemu.example/app/links/digest?token=")
        );
        assert_eq!(
            links(Some("!!"), None).err(),
            Some("link_key is not base64")
        );
        assert_eq!(
            links(Some("c2hvcnQ"), None).err(),
            Some("link_key is shorter than 32 bytes")
        );
        for base in [
            "keemu.example",
            "javascript:alert(1)",
            "https://x.example/?a=1",
        ] {
            let error = links(Some(KEY), Some(base)).err().unwrap();
            assert!(error.starts_with("public_base_url"), "{base}");
            assert!(!error.contains(KEY));
        }
    }

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
