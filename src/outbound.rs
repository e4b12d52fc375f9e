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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundError {
    /// The URL is not a valid absolute URL.
    InvalidUrl,
    /// The host refused it: not in `allowed_outbound_hosts`.
    Denied,
    /// No response (DNS, connection, TLS, protocol), or the body failed mid-way.
    Failed,
    /// No complete response within the timeout.
    Timeout,
    /// The body is larger than the limit.
    TooLarge,
}

impl fmt::Display for OutboundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidUrl => "outbound URL is invalid",
            Self::Denied => "outbound host is not allowed",
            Self::Failed => "outbound request failed",
            Self::Timeout => "outbound request timed out",
            Self::TooLarge => "outbound response body is too large",
        })
    }
}

impl std::error::Error for OutboundError {}

/// `GET` of a URL: its whole response (any status) within `timeout`, with a body of at most
/// `max_bytes`.
pub trait Outbound {
    fn get(
        &self,
        url: &str,
        timeout: Duration,
        max_bytes: usize,
    ) -> impl Future<Output = Result<HttpGot, OutboundError>>;
}
