//! `ETag` values and `If-Match` preconditions.
//!
//! A user's ETag covers the user and its preferences (`"u<user>.<preferences>"`, both
//! `updated_at` in microseconds); the preferences' ETag covers them alone (`"p<micros>"`).
//! Strong ETags only: `If-Match` uses the strong comparison, so a weak tag never matches.

use http::HeaderMap;
use http::header::IF_MATCH;

use crate::models::user::{PreferencesVersion, UserVersion};

/// The `ETag` of a user representation.
pub fn user_etag(version: UserVersion) -> String {
    format!(
        "\"u{}.{}\"",
        version.user_micros, version.preferences_micros
    )
}

/// The `ETag` of a preferences representation.
pub fn preferences_etag(version: PreferencesVersion) -> String {
    format!("\"p{}\"", version.micros)
}

/// What an `If-Match` header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition<V> {
    /// No `If-Match`, or `If-Match: *`: the resource only has to exist.
    None,
    /// The resource must be at this version.
    Version(V),
    /// A tag that can match no current representation (weak, malformed, another kind):
    /// answered with 412 if the resource exists.
    NeverMatches,
}

impl<V> Precondition<V> {
    /// The version the conditional statement must find, if any. A tag that can never match
    /// becomes `never`, a version no row has, so the statement reports "stale" (412) when
    /// the resource exists and "not found" (404) when it does not.
    pub fn expected(self, never: V) -> Option<V> {
        match self {
            Precondition::None => None,
            Precondition::Version(v) => Some(v),
            Precondition::NeverMatches => Some(never),
        }
    }
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(IF_MATCH)
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

fn parse<V>(headers: &HeaderMap, parse_tag: impl Fn(&str) -> Option<V>) -> Precondition<V> {
    let Some(value) = if_match(headers) else {
        return Precondition::None;
    };
    let tags: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if tags == ["*"] {
        return Precondition::None;
    }
    match tags.as_slice() {
        [tag] => tag
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .and_then(&parse_tag)
            .map_or(Precondition::NeverMatches, Precondition::Version),
        // Several tags: the conditional statement checks one version; a list is refused
        // rather than half honoured.
        _ => Precondition::NeverMatches,
    }
}

/// The user version an `If-Match` header requires.
pub fn user_precondition(headers: &HeaderMap) -> Precondition<UserVersion> {
    parse(headers, |tag| {
        let (user, preferences) = tag.strip_prefix('u')?.split_once('.')?;
        Some(UserVersion {
            user_micros: user.parse().ok()?,
            preferences_micros: preferences.parse().ok()?,
        })
    })
}

/// The preferences version an `If-Match` header requires.
pub fn preferences_precondition(headers: &HeaderMap) -> Precondition<PreferencesVersion> {
    parse(headers, |tag| {
        Some(PreferencesVersion {
            micros: tag.strip_prefix('p')?.parse().ok()?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(IF_MATCH, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn round_trips_and_rejects() {
        let v = UserVersion {
            user_micros: 1_764_000_000_123_456,
            preferences_micros: 1_764_000_000_000_001,
        };
        assert_eq!(
            user_precondition(&headers(&user_etag(v))),
            Precondition::Version(v)
        );
        assert_eq!(user_precondition(&HeaderMap::new()), Precondition::None);
        assert_eq!(user_precondition(&headers("*")), Precondition::None);
        assert_eq!(
            user_precondition(&headers(&format!("W/{}", user_etag(v)))),
            Precondition::NeverMatches
        );
        assert_eq!(
            user_precondition(&headers("\"garbage\"")),
            Precondition::NeverMatches
        );
        let p = PreferencesVersion { micros: 42 };
        assert_eq!(
            preferences_precondition(&headers(&preferences_etag(p))),
            Precondition::Version(p)
        );
        assert_eq!(
            preferences_precondition(&headers(&user_etag(v))),
            Precondition::NeverMatches
        );
    }
}
