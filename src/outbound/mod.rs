//! Outbound HTTP: the one place this service sends requests from.
//!
//! - [`Outbound`]: the transport, a trait the components implement with Spin's HTTP client
//!   (`keemu_spin_glue::outbound`) and the tests with local fakes. It sends one `GET` (or
//!   `POST`) and reads the whole response, bounded in time and size by the implementation.
//! - [`policy`]: which URLs user input may make us fetch (no private networks).
//! - [`client`]: the requests built on the transport: a `GET` that follows redirects and
//!   checks every hop within one time budget (source pages and feeds), the conditional
//!   `GET` of a feed, and the single `GET` of a URL from our own configuration (Google's
//!   keys).
//! - [`mail`]: e-mail through an HTTP e-mail API (Resend's `POST /emails`), the one place
//!   messages are sent from.
//! - [`error`]: [`OutboundError`], the one error type for all of them.

pub mod client;
pub mod error;
pub mod mail;
pub mod policy;

use std::fmt;
use std::time::Duration;

pub use error::OutboundError;
pub use policy::{NetPolicy, Refusal};

/// A request to send: the URL, extra request headers (e.g. `If-None-Match`), a body (a
/// `POST` when there is one, else a `GET`), and the bounds on time and response size. Redirects are not followed: a 3xx comes back as it is, with its
/// `Location` header, for the caller to follow (or not) within its own bounds.
#[derive(Debug, Clone)]
pub struct FetchRequest<'a> {
    pub url: &'a str,
    pub headers: Vec<(&'static str, String)>,
    /// `Some`: the request is a `POST` with this body; `None`: a `GET`.
    pub body: Option<&'a [u8]>,
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

/// Outbound HTTP: the transport. Code outside this module calls [`client`], which
/// adds the URL check and redirects; implementations return only the transport failures
/// ([`OutboundError::InvalidUrl`], `Denied`, `Failed`, `Timeout`, `TooLarge`).
pub trait Outbound {
    /// Sends `request` and reads the whole response (any status) within its bounds.
    fn fetch(
        &self,
        request: &FetchRequest<'_>,
    ) -> impl Future<Output = Result<Fetched, OutboundError>>;
}
