//! [`WebUrl`]: a canonical `http`/`https` URL, the identity of a blog's feed and what any
//! other pasted address becomes.
//!
//! A canonical web URL is what the WHATWG URL parser gives (lower-case scheme and host, IDNA,
//! default port removed, dot segments resolved, percent-encoding normalised), without a
//! fragment, an empty query (`?`) or a trailing dot in the host; path and query are kept as
//! they are. A URL with a user name or password is refused.
//!
//! Errors about a source's address are [`DomainError`]s on the field `url` ([`url_error`]):
//! constant messages that never repeat the input.

use std::fmt;

use url::Url;

use crate::domain::DomainError;

const FIELD: &str = "url";

/// The longest input accepted, in characters (the identifier and feed URL columns hold 2048).
pub const MAX_URL_CHARS: usize = 2048;

pub(super) const TOO_LONG: &str = "must be at most 2048 characters";
pub(super) const NOT_A_URL: &str = "is not a valid URL";
pub(super) const NOT_HTTP: &str = "must be an http or https URL";
pub(super) const USERINFO: &str = "must not contain a user name or password";

/// An error on the field `url` (every error about a source's address).
pub(super) fn url_error(message: &'static str) -> DomainError {
    DomainError::new(FIELD, message)
}

/// A canonical `http`/`https` URL (see the module documentation).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct WebUrl(Url);

impl WebUrl {
    /// Canonicalises an absolute URL.
    ///
    /// # Errors
    ///
    /// A [`DomainError`] on `url` for another scheme, no host, or a user name or password.
    pub fn from_url(mut url: Url) -> Result<Self, DomainError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(url_error(NOT_HTTP));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(url_error(USERINFO));
        }
        let host = url.host_str().ok_or(url_error(NOT_A_URL))?;
        if host.is_empty() {
            return Err(url_error(NOT_A_URL));
        }
        if let Some(stripped) = host.strip_suffix('.').filter(|h| !h.is_empty()) {
            let stripped = stripped.to_owned();
            url.set_host(Some(&stripped))
                .map_err(|_| url_error(NOT_A_URL))?;
        }
        url.set_fragment(None);
        if url.query() == Some("") {
            url.set_query(None);
        }
        if url.as_str().chars().count() > MAX_URL_CHARS {
            return Err(url_error(TOO_LONG));
        }
        Ok(WebUrl(url))
    }

    /// Parses and canonicalises an absolute `http`/`https` URL.
    ///
    /// # Errors
    ///
    /// A [`DomainError`] on `url` if it is not one (see [`WebUrl::from_url`]).
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let url = Url::parse(input).map_err(|_| url_error(NOT_A_URL))?;
        Self::from_url(url)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    #[must_use]
    pub fn url(&self) -> &Url {
        &self.0
    }
}

/// URLs are not personal data, but `Debug` shows only the origin: the path or query of a
/// pasted URL may carry a token.
impl fmt::Debug for WebUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebUrl({}/..)", self.0.origin().ascii_serialization())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_only_the_origin() {
        let url = WebUrl::parse("https://example.com/feed?token=secret").unwrap();
        let debug = format!("{url:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("https://example.com"), "{debug}");
    }
}
