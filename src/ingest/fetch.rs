//! Fetching one feed: a conditional `GET` (`If-None-Match` / `If-Modified-Since` from the
//! stored validators) through [`Outbound`], bounded in time and size, following at most
//! [`FetchPolicy::max_redirects`] redirects itself; every URL, each hop included, passes the
//! URL check before anything is sent.

use std::fmt;
use std::time::Duration;

use url::Url;

use super::guard::{UrlRefused, check_url};
use crate::outbound::{FetchRequest, Outbound, OutboundError};

/// The bounds of one feed fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Bound on each request (each redirect hop has its own).
    pub timeout: Duration,
    /// Largest body read.
    pub max_bytes: usize,
    /// Redirects followed before giving up.
    pub max_redirects: u8,
    /// Let loopback addresses through the URL check (tests' fixture server only).
    pub allow_loopback: bool,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            timeout: Duration::from_secs(10),
            max_bytes: 5 * 1024 * 1024,
            max_redirects: 5,
            allow_loopback: false,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchError {
    /// The URL check refused a URL (the feed's or a redirect's) before sending anything.
    Refused(UrlRefused),
    /// No response, a timeout, a body over the size cap, or a host refusal.
    Outbound(OutboundError),
    /// A status other than 2xx, 304 or a followed redirect.
    Status(u16),
    /// A redirect without a usable `Location`.
    BadRedirect(u16),
    /// More redirects than allowed.
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
            Self::BadRedirect(_) => "bad_redirect",
            Self::TooManyRedirects => "too_many_redirects",
        }
    }

    /// The HTTP status that ended the fetch, if a response came.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status(status) | Self::BadRedirect(status) => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(reason) => write!(f, "refused: {reason}"),
            Self::Outbound(error) => error.fmt(f),
            Self::Status(status) => write!(f, "the feed answered HTTP {status}"),
            Self::BadRedirect(status) => write!(f, "HTTP {status} without a usable Location"),
            Self::TooManyRedirects => f.write_str("too many redirects"),
        }
    }
}

impl std::error::Error for FetchError {}

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
    let mut current: Url = check_url(url, policy.allow_loopback).map_err(FetchError::Refused)?;
    let mut redirects = 0u8;
    loop {
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
        let request = FetchRequest {
            url: current.as_str(),
            headers,
            timeout: policy.timeout,
            max_bytes: policy.max_bytes,
        };
        let response = outbound
            .fetch(&request)
            .await
            .map_err(FetchError::Outbound)?;
        match response.status {
            200..=299 => {
                return Ok(FetchOutcome::Body {
                    status: response.status,
                    etag: validator(response.header("etag"), MAX_ETAG),
                    last_modified: validator(response.header("last-modified"), MAX_LAST_MODIFIED),
                    body: response.body,
                });
            }
            304 => {
                return Ok(FetchOutcome::NotModified {
                    etag: validator(response.header("etag"), MAX_ETAG),
                });
            }
            status @ (301 | 302 | 303 | 307 | 308) => {
                if redirects >= policy.max_redirects {
                    return Err(FetchError::TooManyRedirects);
                }
                redirects += 1;
                let location = response
                    .header("location")
                    .ok_or(FetchError::BadRedirect(status))?;
                let next = current
                    .join(location.trim())
                    .map_err(|_| FetchError::BadRedirect(status))?;
                current =
                    check_url(next.as_str(), policy.allow_loopback).map_err(FetchError::Refused)?;
            }
            status => return Err(FetchError::Status(status)),
        }
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
