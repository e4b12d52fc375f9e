//! The requests this service sends, built on the transport ([`Outbound`]):
//!
//! - [`get`]: a `GET` of a URL that came from outside (a source page, a feed, a link in a
//!   page), checked by [`policy::check`] before it is sent and again on every redirect's
//!   target, following at most [`FetchLimits::max_redirects`] redirects, all hops together
//!   within [`FetchLimits::timeout`] and each body within [`FetchLimits::max_bytes`];
//! - [`conditional_get`]: the same, sending the stored validators (`If-None-Match`,
//!   `If-Modified-Since`), answered by a body or "not modified" (ingestion's feed fetch);
//! - [`get_configured`]: one `GET` of a URL from our own configuration (Google's key set),
//!   with no redirect followed.

use std::fmt;
use std::time::{Duration, Instant};

use url::Url;

use super::policy::{self, NetPolicy};
use super::{FetchRequest, Fetched, Outbound, OutboundError};

/// Bounds of a [`get`]: all hops together within `timeout`, each body at most
/// `max_bytes`, at most `max_redirects` redirects followed.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    pub timeout: Duration,
    pub max_bytes: usize,
    pub max_redirects: usize,
}

/// A response and the URL it came from (after redirects).
#[derive(Debug, Clone)]
pub struct Landed {
    pub url: Url,
    pub response: Fetched,
}

/// `GET url` with `headers`, following up to `limits.max_redirects` redirects (301, 302,
/// 303, 307, 308; `Location` resolved against the current URL), each hop checked by
/// [`policy::check`] before it is sent. The final response may have any other status.
///
/// # Errors
///
/// [`OutboundError::Refused`] before sending, [`OutboundError::TooManyRedirects`] or
/// [`OutboundError::BadRedirect`], or the transport error of the hop that failed (the time
/// left for a hop is what remains of `limits.timeout`).
pub async fn get(
    outbound: &impl Outbound,
    policy: NetPolicy,
    url: Url,
    headers: &[(&'static str, String)],
    limits: FetchLimits,
) -> Result<Landed, OutboundError> {
    let started = Instant::now();
    let mut url = url;
    let mut redirects = 0;
    loop {
        policy::check(&url, policy).map_err(OutboundError::Refused)?;
        let remaining = limits
            .timeout
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero())
            .ok_or(OutboundError::Timeout)?;
        let request = FetchRequest {
            url: url.as_str(),
            headers: headers.to_vec(),
            body: None,
            timeout: remaining,
            max_bytes: limits.max_bytes,
        };
        let response = outbound.fetch(&request).await?;
        if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
            return Ok(Landed { url, response });
        }
        if redirects >= limits.max_redirects {
            return Err(OutboundError::TooManyRedirects);
        }
        redirects += 1;
        let location = response
            .header("location")
            .ok_or(OutboundError::BadRedirect)?;
        let mut next = url
            .join(location.trim())
            .map_err(|_| OutboundError::BadRedirect)?;
        next.set_fragment(None);
        url = next;
    }
}

/// The validators a previous fetch stored.
#[derive(Debug, Clone, Copy, Default)]
pub struct Validators<'a> {
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
}

/// What a conditional `GET` brought back.
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

/// [`get`] of `url` with `headers` and the stored `validators` (`If-None-Match`,
/// `If-Modified-Since`): a `2xx` body or `304 Not Modified`, each with the validators worth
/// storing.
///
/// # Errors
///
/// [`OutboundError::Refused`] (with [`policy::Refusal::InvalidUrl`] if `url` does not parse), any
/// error of [`get`], or [`OutboundError::Status`] for a final status other than 2xx or 304.
pub async fn conditional_get(
    outbound: &impl Outbound,
    policy: NetPolicy,
    url: &str,
    headers: &[(&'static str, String)],
    validators: Validators<'_>,
    limits: FetchLimits,
) -> Result<FetchOutcome, OutboundError> {
    let url = policy::check_str(url, policy).map_err(OutboundError::Refused)?;
    let mut headers = headers.to_vec();
    if let Some(etag) = validators.etag {
        headers.push(("if-none-match", etag.to_owned()));
    }
    if let Some(last_modified) = validators.last_modified {
        headers.push(("if-modified-since", last_modified.to_owned()));
    }
    let response = get(outbound, policy, url, &headers, limits).await?.response;
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
        status => Err(OutboundError::Status(status)),
    }
}

/// The longest `ETag` and `Last-Modified` kept (the bounds of the columns that store them).
const MAX_ETAG: usize = 1024;
const MAX_LAST_MODIFIED: usize = 128;

/// A validator worth storing: present, printable ASCII, within the column's bound.
fn validator(value: Option<&str>, max: usize) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= max && v.bytes().all(|b| (0x20..0x7f).contains(&b)))
        .map(str::to_owned)
}

/// One `GET` of `url`, a URL from our own configuration rather than from users (so not
/// checked by [`policy`]): no redirect is followed, and only `200` is an answer.
///
/// # Errors
///
/// The transport's error, or [`OutboundError::Status`] for any status but 200.
pub async fn get_configured(
    outbound: &impl Outbound,
    url: &str,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Fetched, OutboundError> {
    let request = FetchRequest {
        url,
        headers: Vec::new(),
        body: None,
        timeout,
        max_bytes,
    };
    let response = outbound.fetch(&request).await?;
    if response.status != 200 {
        return Err(OutboundError::Status(response.status));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::Refusal;

    const STRICT: NetPolicy = NetPolicy {
        allow_loopback: false,
    };

    /// Answers each URL from a list; panics on any other URL (so a refused URL that was
    /// sent fails the test).
    struct Script(Vec<(&'static str, u16, Option<&'static str>)>);

    impl Outbound for Script {
        async fn fetch(&self, request: &FetchRequest<'_>) -> Result<Fetched, OutboundError> {
            let (_, status, location) = self
                .0
                .iter()
                .find(|(url, _, _)| *url == request.url)
                .unwrap_or_else(|| panic!("unexpected fetch of {}", request.url));
            Ok(Fetched {
                status: *status,
                headers: location
                    .iter()
                    .map(|l| ("location".to_owned(), (*l).to_owned()))
                    .collect(),
                body: Vec::new(),
            })
        }
    }

    const LIMITS: FetchLimits = FetchLimits {
        timeout: Duration::from_secs(5),
        max_bytes: 1024,
        max_redirects: 5,
    };

    fn run<T>(future: impl Future<Output = T>) -> T {
        futures_util::FutureExt::now_or_never(future).expect("ready")
    }

    #[test]
    fn redirects_are_followed_and_checked() {
        let script = Script(vec![
            ("https://a.example/", 301, Some("/b#frag")),
            ("https://a.example/b", 302, Some("https://c.example/feed")),
            ("https://c.example/feed", 200, None),
        ]);
        let url = Url::parse("https://a.example/").unwrap();
        let landed = run(get(&script, STRICT, url, &[], LIMITS)).unwrap();
        assert_eq!(landed.url.as_str(), "https://c.example/feed");
        assert_eq!(landed.response.status, 200);

        // A redirect to a private address is refused before it is sent (Script would panic).
        let script = Script(vec![(
            "https://a.example/",
            302,
            Some("http://169.254.169.254/latest/meta-data/"),
        )]);
        let url = Url::parse("https://a.example/").unwrap();
        assert_eq!(
            run(get(&script, STRICT, url, &[], LIMITS)).unwrap_err(),
            OutboundError::Refused(Refusal::PrivateAddress)
        );

        // The first URL is checked too.
        let url = Url::parse("http://10.0.0.1/").unwrap();
        assert_eq!(
            run(get(&Script(vec![]), STRICT, url, &[], LIMITS)).unwrap_err(),
            OutboundError::Refused(Refusal::PrivateAddress)
        );
    }

    #[test]
    fn redirects_are_bounded() {
        let script = Script(vec![
            ("https://a.example/0", 302, Some("/1")),
            ("https://a.example/1", 302, Some("/2")),
            ("https://a.example/2", 302, Some("/3")),
            ("https://a.example/3", 302, Some("/4")),
            ("https://a.example/4", 302, Some("/5")),
            ("https://a.example/5", 302, Some("/6")),
            ("https://a.example/6", 200, None),
        ]);
        let url = Url::parse("https://a.example/0").unwrap();
        assert_eq!(
            run(get(&script, STRICT, url.clone(), &[], LIMITS)).unwrap_err(),
            OutboundError::TooManyRedirects
        );
        let six = FetchLimits {
            max_redirects: 6,
            ..LIMITS
        };
        assert_eq!(
            run(get(&script, STRICT, url, &[], six)).unwrap().url.path(),
            "/6"
        );
        let script = Script(vec![("https://a.example/", 301, None)]);
        let url = Url::parse("https://a.example/").unwrap();
        assert_eq!(
            run(get(&script, STRICT, url, &[], LIMITS)).unwrap_err(),
            OutboundError::BadRedirect
        );
        // 304 is an answer, not a redirect.
        let script = Script(vec![("https://a.example/", 304, None)]);
        let url = Url::parse("https://a.example/").unwrap();
        assert_eq!(
            run(get(&script, STRICT, url, &[], LIMITS))
                .unwrap()
                .response
                .status,
            304
        );
    }

    /// Answers every request with one response, recording the requests' headers.
    struct Answer {
        status: u16,
        headers: Vec<(String, String)>,
        sent: std::cell::RefCell<Vec<Vec<(&'static str, String)>>>,
    }

    impl Answer {
        fn new(status: u16, headers: Vec<(&str, &str)>) -> Answer {
            Answer {
                status,
                headers: headers
                    .into_iter()
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect(),
                sent: std::cell::RefCell::new(Vec::new()),
            }
        }
    }

    impl Outbound for Answer {
        async fn fetch(&self, request: &FetchRequest<'_>) -> Result<Fetched, OutboundError> {
            self.sent.borrow_mut().push(request.headers.clone());
            Ok(Fetched {
                status: self.status,
                headers: self.headers.clone(),
                body: b"body".to_vec(),
            })
        }
    }

    #[test]
    fn conditional_get_sends_the_validators_and_reads_the_answer() {
        let validators = Validators {
            etag: Some("\"v1\""),
            last_modified: Some("Tue, 01 Dec 2026 10:00:00 GMT"),
        };
        let accept = [("accept", "text/xml".to_owned())];
        let fetch = |outbound: &Answer, url: &str| {
            run(conditional_get(
                outbound, STRICT, url, &accept, validators, LIMITS,
            ))
        };
        let not_modified = Answer::new(304, vec![("etag", " \"v2\" ")]);
        assert_eq!(
            fetch(&not_modified, "https://a.example/feed").unwrap(),
            FetchOutcome::NotModified {
                etag: Some("\"v2\"".into())
            }
        );
        assert_eq!(
            not_modified.sent.borrow()[0],
            vec![
                ("accept", "text/xml".to_owned()),
                ("if-none-match", "\"v1\"".to_owned()),
                (
                    "if-modified-since",
                    "Tue, 01 Dec 2026 10:00:00 GMT".to_owned()
                ),
            ]
        );
        // A validator that is not printable ASCII, or too long, is not kept.
        let long = "x".repeat(MAX_LAST_MODIFIED + 1);
        let body = Answer::new(200, vec![("etag", "\u{7f}"), ("last-modified", &long)]);
        assert_eq!(
            fetch(&body, "https://a.example/feed").unwrap(),
            FetchOutcome::Body {
                status: 200,
                body: b"body".to_vec(),
                etag: None,
                last_modified: None,
            }
        );
        assert_eq!(
            fetch(&Answer::new(503, vec![]), "https://a.example/feed").unwrap_err(),
            OutboundError::Status(503)
        );
        // Refused before anything is sent, an unparsable URL included.
        let unsent = Answer::new(200, vec![]);
        assert_eq!(
            fetch(&unsent, "http://127.0.0.1/feed").unwrap_err(),
            OutboundError::Refused(Refusal::PrivateAddress)
        );
        assert_eq!(
            fetch(&unsent, "not a url").unwrap_err(),
            OutboundError::Refused(Refusal::InvalidUrl)
        );
        assert!(unsent.sent.borrow().is_empty());
    }

    #[test]
    fn a_configured_url_is_fetched_once_and_must_answer_200() {
        let get = |outbound: &Answer| {
            run(get_configured(
                outbound,
                "http://127.0.0.1:9/certs",
                Duration::from_secs(1),
                1024,
            ))
        };
        // Not checked by the URL policy (a configured URL may be loopback in tests).
        let ok = Answer::new(200, vec![("cache-control", "max-age=60")]);
        assert_eq!(
            get(&ok).unwrap().header("cache-control"),
            Some("max-age=60")
        );
        // A redirect is not followed: it is not the answer.
        let moved = Answer::new(302, vec![("location", "https://elsewhere.example/")]);
        assert_eq!(get(&moved).unwrap_err(), OutboundError::Status(302));
        assert_eq!(moved.sent.borrow().len(), 1);
        assert_eq!(
            get(&Answer::new(204, vec![])).unwrap_err(),
            OutboundError::Status(204)
        );
    }
}
