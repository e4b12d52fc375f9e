//! Outbound HTTP, as the core sees it: a trait the components implement with Spin's HTTP
//! client (`keemu_spin_glue::outbound`) and the tests with a local fake. Responses are read
//! whole, bounded in time and size by the implementation.

use std::fmt;
use std::time::Duration;

/// A response read whole: status, `Cache-Control` (when present and visible ASCII), body.
/// `Debug` shows the body's length, not the body.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpGot {
    /// The response status.
    pub status: u16,
    /// The `Cache-Control` header's value.
    pub cache_control: Option<String>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl fmt::Debug for HttpGot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpGot")
            .field("status", &self.status)
            .field("cache_control", &self.cache_control)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// Why an outbound request gave no response. Shows no URL and no body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The URL is not a valid absolute URL.
    #[error("outbound URL is invalid")]
    InvalidUrl,
    /// The host refused it: not in `allowed_outbound_hosts`, or its addresses are blocked by
    /// the runtime config (`[outbound_networking] block_networks`).
    #[error("outbound host is not allowed")]
    Denied,
    /// No response (DNS, connection, TLS, protocol), or the body failed mid-way.
    #[error("outbound request failed")]
    Failed,
    /// No complete response within the timeout.
    #[error("outbound request timed out")]
    Timeout,
    /// The body is larger than the limit.
    #[error("outbound response body is too large")]
    TooLarge,
}

/// A `GET` to send: the URL, extra request headers (e.g. `If-None-Match`), and the bounds
/// on time and body size. Redirects are not followed: a 3xx comes back as it is, with its
/// `Location` header, for the caller to follow (or not) within its own bounds.
#[derive(Debug, Clone)]
pub struct FetchRequest<'a> {
    pub url: &'a str,
    pub headers: Vec<(&'static str, String)>,
    pub timeout: Duration,
    pub max_bytes: usize,
}

/// A response read whole: status, headers (names in lower case) and body. `Debug` shows
/// the body's length, not the body.
#[derive(Clone, PartialEq, Eq)]
pub struct Fetched {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Fetched {
    /// The first value of header `name` (lower case), if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for Fetched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetched")
            .field("status", &self.status)
            .field("headers", &self.headers.len())
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// Outbound HTTP `GET`.
pub trait Outbound {
    /// Sends `request` and reads the whole response (any status) within its bounds.
    fn fetch(
        &self,
        request: &FetchRequest<'_>,
    ) -> impl Future<Output = Result<Fetched, OutboundError>>;

    /// `GET url` with no extra headers: status, `Cache-Control` and body.
    fn get(
        &self,
        url: &str,
        timeout: Duration,
        max_bytes: usize,
    ) -> impl Future<Output = Result<HttpGot, OutboundError>> {
        let request = FetchRequest {
            url,
            headers: Vec::new(),
            timeout,
            max_bytes,
        };
        async move {
            let fetched = self.fetch(&request).await?;
            Ok(HttpGot {
                status: fetched.status,
                cache_control: fetched.header("cache-control").map(str::to_owned),
                body: fetched.body,
            })
        }
    }
}
