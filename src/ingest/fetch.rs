//! Fetching one feed: a conditional `GET` (`If-None-Match` / `If-Modified-Since` from the
//! stored validators) through [`Outbound`], with the shared URL rules of
//! [`crate::net_guard`]: [`net_guard::fetch`] checks the URL and every redirect's target
//! before anything is sent, follows at most [`FetchPolicy::max_redirects`] redirects, and
//! bounds all hops together by [`FetchPolicy::timeout`] and each body by
//! [`FetchPolicy::max_bytes`].

use std::fmt;
use std::time::Duration;

use crate::net_guard::{self, FetchLimits, NetPolicy, Refusal};
use crate::outbound::{Outbound, OutboundError};

/// The bounds of one feed fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Bound on one fetch, all redirect hops together.
    pub timeout: Duration,
    /// Largest body read.
    pub max_bytes: usize,
    /// Redirects followed before giving up.
    pub max_redirects: usize,
    /// What the URL check lets through beyond public addresses (loopback: tests only).
    pub net: NetPolicy,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            timeout: Duration::from_secs(10),
            max_bytes: 5 * 1024 * 1024,
            max_redirects: 5,
            net: NetPolicy::default(),
        }
    }
}

/// The validators a previous fetch stored.
#[derive(Debug, Clone, Copy, Default)]
pub struct Validators<'a> {
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
}

/// What a fetch brought back.
#[derive(Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// `304 Not Modified`: nothing to parse. A new `ETag` sent with it, if any.
    NotModified { etag: Option<String> },
    /// A `2xx` with its body and validators.
    Body {
        status: u16,
        body: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

impl fmt::Debug for FetchOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotModified { .. } => f.write_str("NotModified"),
            Self::Body { status, body, .. } => f
                .debug_struct("Body")
                .field("status", status)
                .field("body_bytes", &body.len())
                .finish(),
        }
    }
}

/// Why a fetch gave no feed. Shows no URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL check refused a URL (the feed's or a redirect's) before sending anything.
    #[error("refused: {}", .0.as_str())]
    Refused(Refusal),
    /// No response, a timeout, a body over the size cap, or a host refusal.
    #[error("{0}")]
    Outbound(OutboundError),
    /// A status other than 2xx, 304 or a followed redirect.
    #[error("the feed answered HTTP {0}")]
    Status(u16),
    /// A redirect without a usable `Location`.
    #[error("a redirect without a usable Location")]
    BadRedirect,
    /// More redirects than allowed.
    #[error("too many redirects")]
    TooManyRedirects,
}

impl FetchError {
    /// A stable name for logs and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Refused(_) => "url_refused",
            Self::Outbound(OutboundError::Timeout) => "timeout",
            Self::Outbound(OutboundError::TooLarge) => "too_large",
            Self::Outbound(OutboundError::Denied) => "host_denied",
            Self::Outbound(OutboundError::InvalidUrl) => "invalid_url",
            Self::Outbound(OutboundError::Failed) => "no_response",
            Self::Status(_) => "http_status",
            Self::BadRedirect => "bad_redirect",
            Self::TooManyRedirects => "too_many_redirects",
        }
    }

    /// The HTTP status that ended the fetch, if a response came.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status(status) => Some(*status),
            _ => None,
        }
    }
}

impl From<net_guard::FetchError> for FetchError {
    fn from(error: net_guard::FetchError) -> Self {
        match error {
            net_guard::FetchError::Refused(refusal) => Self::Refused(refusal),
            net_guard::FetchError::TooManyRedirects => Self::TooManyRedirects,
            net_guard::FetchError::BadRedirect => Self::BadRedirect,
            net_guard::FetchError::Outbound(error) => Self::Outbound(error),
        }
    }
}

/// What feed readers send as `Accept`.
const ACCEPT: &str = "application/atom+xml, application/rss+xml, application/xml;q=0.9, \
                      text/xml;q=0.9, */*;q=0.5";
/// Some sites (Reddit) refuse requests without a descriptive `User-Agent`.
const USER_AGENT: &str = concat!("KeeMU/", env!("CARGO_PKG_VERSION"), " (feed reader)");

/// Fetches `url` with the stored validators.
pub async fn fetch_feed(
    outbound: &impl Outbound,
    url: &str,
    validators: Validators<'_>,
    policy: &FetchPolicy,
) -> Result<FetchOutcome, FetchError> {
    let url = net_guard::check_str(url, policy.net).map_err(FetchError::Refused)?;
    let mut headers = vec![
        ("accept", ACCEPT.to_owned()),
        ("user-agent", USER_AGENT.to_owned()),
    ];
    if let Some(etag) = validators.etag {
        headers.push(("if-none-match", etag.to_owned()));
    }
    if let Some(last_modified) = validators.last_modified {
        headers.push(("if-modified-since", last_modified.to_owned()));
    }
    let limits = FetchLimits {
        timeout: policy.timeout,
        max_bytes: policy.max_bytes,
        max_redirects: policy.max_redirects,
    };
    let response = net_guard::fetch(outbound, policy.net, url, &headers, limits)
        .await?
        .response;
    match response.status {
        200..=299 => Ok(FetchOutcome::Body {
            status: response.status,
            etag: validator(response.header("etag"), MAX_ETAG),
            last_modified: validator(response.header("last-modified"), MAX_LAST_MODIFIED),
            body: response.body,
        }),
        304 => Ok(FetchOutcome::NotModified {
            etag: validator(response.header("etag"), MAX_ETAG),
        }),
        status => Err(FetchError::Status(status)),
    }
}

/// The longest `ETag` and `Last-Modified` stored (the columns' bounds).
const MAX_ETAG: usize = 1024;
const MAX_LAST_MODIFIED: usize = 128;

/// A validator worth storing: present, printable ASCII, within the column's bound.
fn validator(value: Option<&str>, max: usize) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= max && v.bytes().all(|b| (0x20..0x7f).contains(&b)))
        .map(str::to_owned)
}
