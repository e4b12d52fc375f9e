//! The one error type of outbound HTTP: why a request gave no usable response. Callers that
//! tell cases apart (ingestion's failure reasons, resolution's messages, Google's keys)
//! map from it.

use super::policy::Refusal;

/// Why an outbound request gave no usable response. Shows no URL and no body.
///
/// The [`super::Outbound`] implementations (Spin's client, the tests' fakes) return the
/// transport failures ([`InvalidUrl`](Self::InvalidUrl) to [`TooLarge`](Self::TooLarge));
/// the client ([`super::client`]) adds the URL check, redirects and unwanted statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The URL check ([`super::policy::check`]) refused a URL (the first or a redirect's
    /// target) before anything was sent.
    #[error("refused: {}", .0.as_str())]
    Refused(Refusal),
    /// The URL is not a valid absolute URL (said by the host).
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
    /// More redirects than allowed.
    #[error("too many redirects")]
    TooManyRedirects,
    /// A redirect without a usable `Location`.
    #[error("a redirect without a usable Location")]
    BadRedirect,
    /// The final response's status is not one the caller accepts.
    #[error("answered HTTP {0}")]
    Status(u16),
}

impl OutboundError {
    /// A stable name for logs and reports.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Refused(_) => "url_refused",
            Self::Timeout => "timeout",
            Self::TooLarge => "too_large",
            Self::Denied => "host_denied",
            Self::InvalidUrl => "invalid_url",
            Self::Failed => "no_response",
            Self::Status(_) => "http_status",
            Self::BadRedirect => "bad_redirect",
            Self::TooManyRedirects => "too_many_redirects",
        }
    }

    /// The HTTP status that ended the request, if a response came.
    #[must_use]
    pub const fn status(&self) -> Option<u16> {
        match self {
            Self::Status(status) => Some(*status),
            _ => None,
        }
    }
}
