//! Outbound HTTP through Spin's `wasi:http` client (`spin_sdk::http`), bounded in time and
//! in body size. The destination must be in the component's `allowed_outbound_hosts`
//! (otherwise [`OutboundError::Denied`]).
//!
//! The request and its timer are host futures created and awaited inside [`http_get`], by
//! the request's own task; nothing is kept across requests.

use std::fmt;
use std::pin::pin;
use std::time::Duration;

use futures_util::future::{Either, select};
use http_body_util::BodyExt;
use spin_sdk::wasip3::http::types::ErrorCode;

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

/// `GET url`, its whole response (any status) within `timeout`, and a body of at most
/// `max_bytes` (reading stops at the first byte beyond: [`OutboundError::TooLarge`]).
pub async fn http_get(
    url: &str,
    timeout: Duration,
    max_bytes: usize,
) -> Result<HttpGot, OutboundError> {
    let work = pin!(get(url, max_bytes));
    let timer = pin!(spin_sdk::time::sleep(timeout));
    match select(work, timer).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(OutboundError::Timeout),
    }
}

async fn get(url: &str, max_bytes: usize) -> Result<HttpGot, OutboundError> {
    let response = spin_sdk::http::get(url)
        .await
        .map_err(|error| match error {
            ErrorCode::HttpRequestUriInvalid => OutboundError::InvalidUrl,
            ErrorCode::HttpRequestDenied => OutboundError::Denied,
            _ => OutboundError::Failed,
        })?;
    let status = response.status().as_u16();
    let cache_control = response
        .headers()
        .get(http::header::CACHE_CONTROL)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let mut body = response.into_body();
    let mut buffer = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| OutboundError::Failed)?;
        if let Ok(data) = frame.into_data() {
            if data.len() > max_bytes - buffer.len() {
                return Err(OutboundError::TooLarge);
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(HttpGot {
        status,
        cache_control,
        body: buffer,
    })
}
