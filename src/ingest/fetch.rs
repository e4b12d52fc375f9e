//! Fetching one feed: a conditional `GET` ([`client::conditional_get`]: `If-None-Match` /
//! `If-Modified-Since` from the stored validators) with the shared URL rules of
//! [`crate::outbound::policy`]: the URL and every redirect's target are checked before
//! anything is sent, at most [`FetchPolicy::max_redirects`] redirects are followed, all hops
//! together are bounded by [`FetchPolicy::timeout`] and each body by
//! [`FetchPolicy::max_bytes`]. Failures are [`crate::outbound::OutboundError`]s, whose
//! [`kind`](crate::outbound::OutboundError::kind) names the reason recorded.

use std::time::Duration;

use crate::outbound::client::{self, FetchLimits, FetchOutcome, Validators};
use crate::outbound::{NetPolicy, Outbound, OutboundError};

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

/// What feed readers send as `Accept`.
const ACCEPT: &str = "application/atom+xml, application/rss+xml, application/xml;q=0.9, \
                      text/xml;q=0.9, */*;q=0.5";
/// Some sites (Reddit) refuse requests without a descriptive `User-Agent`.
const USER_AGENT: &str = concat!("KeeMU/", env!("CARGO_PKG_VERSION"), " (feed reader)");

/// Fetches `url` with the stored validators.
///
/// # Errors
///
/// As [`client::conditional_get`]: refused, no usable response, or a status other than 2xx
/// or 304 ([`OutboundError::Status`]).
pub async fn fetch_feed(
    outbound: &impl Outbound,
    url: &str,
    validators: Validators<'_>,
    policy: &FetchPolicy,
) -> Result<FetchOutcome, OutboundError> {
    let headers = [
        ("accept", ACCEPT.to_owned()),
        ("user-agent", USER_AGENT.to_owned()),
    ];
    let limits = FetchLimits {
        timeout: policy.timeout,
        max_bytes: policy.max_bytes,
        max_redirects: policy.max_redirects,
    };
    client::conditional_get(outbound, policy.net, url, &headers, validators, limits).await
}
