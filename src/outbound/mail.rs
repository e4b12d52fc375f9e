//! E-mail through an HTTP e-mail API: Spin has no SMTP, so messages go out as one JSON
//! `POST` over Spin's outbound HTTP.
//!
//! The provider is **Resend** (`POST https://api.resend.com/emails`): a plain JSON body
//! (`from`, `to`, `subject`, `html`, `text`, `headers`), a bearer token, and an
//! `Idempotency-Key` header that makes a retried request send nothing new for 24 hours, so a
//! timeout (sent or not?) can be retried safely. Providers with the same shape (Resend's API
//! is also what several self-hosted relays speak) work by changing `mail_api_url`.
//!
//! The component that sends mail may reach only the API's origin (`allowed_outbound_hosts`,
//! spin.toml), and the token is a Spin secret read by that component alone.

use std::fmt;
use std::time::Duration;

use serde_json::json;
use url::Url;

use super::{FetchRequest, Outbound, OutboundError};

/// Longest response body read from the API (its answers are a few hundred bytes).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Where and how mail is sent (the `mail_*` variables). `Debug` hides the token.
#[derive(Clone)]
pub struct MailApi {
    url: String,
    token: String,
    from: String,
    timeout: Duration,
}

impl fmt::Debug for MailApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailApi")
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why the `mail_*` variables do not describe a usable API (never shows a value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MailConfigError {
    #[error("mail_api_token is not set")]
    NoToken,
    #[error("mail_api_url must be an absolute http(s) URL")]
    BadUrl,
    #[error("mail_from must be an address such as \"KeeMU <digests@example.com>\"")]
    BadFrom,
}

impl MailApi {
    /// Checks the variables: an `http(s)` URL, a token without line breaks, and a sender
    /// that names one address on one line.
    pub fn new(
        url: &str,
        token: &str,
        from: &str,
        timeout: Duration,
    ) -> Result<MailApi, MailConfigError> {
        let token = token.trim();
        if token.is_empty() || token.chars().any(|c| c.is_control()) {
            return Err(MailConfigError::NoToken);
        }
        let parsed = Url::parse(url.trim()).map_err(|_| MailConfigError::BadUrl)?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(MailConfigError::BadUrl);
        }
        let from = from.trim();
        let address = from
            .rsplit_once('<')
            .map_or(from, |(_, rest)| rest.trim_end_matches('>'));
        if from.chars().any(|c| c.is_control())
            || from.len() > 320
            || address.parse::<email_address::EmailAddress>().is_err()
        {
            return Err(MailConfigError::BadFrom);
        }
        Ok(MailApi {
            url: parsed.to_string(),
            token: token.to_owned(),
            from: from.to_owned(),
            timeout,
        })
    }
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    /// The one-click unsubscribe URL (RFC 8058): sent as `List-Unsubscribe` with
    /// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
    pub unsubscribe: Option<&'a str>,
    /// The provider's idempotency key: the same key is never sent twice (24 hours).
    pub idempotency_key: &'a str,
}

/// Why a message was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Worth trying again later: no answer, a timeout, 429, 5xx, a 409 for a request with
    /// the same key still in flight, or 401/403 (the token or the sending domain, which an
    /// operator can fix).
    #[error("mail not sent yet ({0})")]
    Retry(&'static str),
    /// The API refused this message for good (400, 422, another 4xx): sending it again
    /// would be refused again.
    #[error("mail refused ({0})")]
    Refused(&'static str),
}

impl MailError {
    /// A stable class for the digest's `last_error` and the logs.
    pub const fn class(&self) -> &'static str {
        match self {
            MailError::Retry(class) | MailError::Refused(class) => class,
        }
    }
}

/// The class of an HTTP status the API answered with.
fn status_class(status: u16) -> MailError {
    match status {
        401 => MailError::Retry("http_401"),
        403 => MailError::Retry("http_403"),
        409 => MailError::Retry("http_409"),
        429 => MailError::Retry("http_429"),
        500..=599 => MailError::Retry("http_5xx"),
        400 => MailError::Refused("http_400"),
        422 => MailError::Refused("http_422"),
        _ => MailError::Refused("http_status"),
    }
}

/// The JSON body of `message` from `from`.
pub fn body(from: &str, message: &Message<'_>) -> Vec<u8> {
    let mut body = json!({
        "from": from,
        "to": [message.to],
        "subject": message.subject,
        "html": message.html,
        "text": message.text,
    });
    if let Some(url) = message.unsubscribe {
        body["headers"] = json!({
            "List-Unsubscribe": format!("<{url}>"),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        });
    }
    body.to_string().into_bytes()
}

/// Sends `message`. `Ok` when the API accepted it (2xx).
pub async fn send(
    outbound: &impl Outbound,
    api: &MailApi,
    message: &Message<'_>,
) -> Result<(), MailError> {
    let body = body(&api.from, message);
    let request = FetchRequest {
        url: &api.url,
        headers: vec![
            ("authorization", format!("Bearer {}", api.token)),
            ("content-type", "application/json".to_owned()),
            ("idempotency-key", message.idempotency_key.to_owned()),
            // A length rather than a chunked body: what every HTTP API takes.
            ("content-length", body.len().to_string()),
        ],
        body: Some(&body),
        timeout: api.timeout,
        max_bytes: MAX_RESPONSE_BYTES,
    };
    match outbound.fetch(&request).await {
        Ok(response) if (200..300).contains(&response.status) => Ok(()),
        Ok(response) => Err(status_class(response.status)),
        Err(OutboundError::TooLarge) => Err(MailError::Retry("too_large")),
        // The component may not reach the URL: a configuration an operator fixes.
        Err(error) => Err(MailError::Retry(error.kind())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::Fetched;
    use std::cell::RefCell;

    /// A request's URL, headers and body.
    type Seen = (String, Vec<(&'static str, String)>, Vec<u8>);

    struct Api {
        status: u16,
        seen: RefCell<Vec<Seen>>,
    }

    impl Outbound for Api {
        async fn fetch(&self, request: &FetchRequest<'_>) -> Result<Fetched, OutboundError> {
            self.seen.borrow_mut().push((
                request.url.to_owned(),
                request.headers.clone(),
                request.body.unwrap_or_default().to_vec(),
            ));
            Ok(Fetched {
                status: self.status,
                headers: Vec::new(),
                body: br#"{"id":"x"}"#.to_vec(),
            })
        }
    }

    fn api() -> MailApi {
        MailApi::new(
            "https://api.resend.com/emails",
            "re_secret",
            "KeeMU <digests@keemu.example>",
            Duration::from_secs(5),
        )
        .unwrap()
    }

    fn message() -> Message<'static> {
        Message {
            to: "ada@example.com",
            subject: "Your digest",
            text: "text",
            html: "<p>html</p>",
            unsubscribe: Some("https://keemu.example/links/unsubscribe?token=1.2.x"),
            idempotency_key: "digest/7",
        }
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        futures_util::FutureExt::now_or_never(future).expect("the fake answers at once")
    }

    #[test]
    fn a_message_is_one_post_with_both_parts_the_key_and_one_click_headers() {
        let fake = Api {
            status: 200,
            seen: RefCell::default(),
        };
        assert_eq!(block_on(send(&fake, &api(), &message())), Ok(()));
        let seen = fake.seen.borrow();
        let (url, headers, body) = &seen[0];
        assert_eq!(url, "https://api.resend.com/emails");
        assert!(headers.contains(&("authorization", "Bearer re_secret".to_owned())));
        assert!(headers.contains(&("idempotency-key", "digest/7".to_owned())));
        let body: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(body["to"], json!(["ada@example.com"]));
        assert_eq!(body["from"], "KeeMU <digests@keemu.example>");
        assert_eq!(body["text"], "text");
        assert_eq!(body["html"], "<p>html</p>");
        assert_eq!(
            body["headers"]["List-Unsubscribe"],
            "<https://keemu.example/links/unsubscribe?token=1.2.x>"
        );
        assert_eq!(
            body["headers"]["List-Unsubscribe-Post"],
            "List-Unsubscribe=One-Click"
        );
    }

    #[test]
    fn statuses_are_retried_or_refused() {
        for (status, expected) in [
            (429, MailError::Retry("http_429")),
            (503, MailError::Retry("http_5xx")),
            (401, MailError::Retry("http_401")),
            (422, MailError::Refused("http_422")),
            (400, MailError::Refused("http_400")),
        ] {
            let fake = Api {
                status,
                seen: RefCell::default(),
            };
            assert_eq!(block_on(send(&fake, &api(), &message())), Err(expected));
        }
    }

    #[test]
    fn variables_are_checked_and_the_token_never_shown() {
        let timeout = Duration::from_secs(1);
        let url = "https://api.resend.com/emails";
        let from = "digests@keemu.example";
        assert_eq!(
            MailApi::new(url, " ", from, timeout).err(),
            Some(MailConfigError::NoToken)
        );
        assert_eq!(
            MailApi::new("ftp://x", "t", from, timeout).err(),
            Some(MailConfigError::BadUrl)
        );
        for bad in ["", "nobody", "A <a@b.example>\r\nBcc: x@y.example"] {
            assert_eq!(
                MailApi::new(url, "t", bad, timeout).err(),
                Some(MailConfigError::BadFrom),
                "{bad:?}"
            );
        }
        let api = MailApi::new(url, "re_secret", from, timeout).unwrap();
        assert!(!format!("{api:?}").contains("re_secret"));
    }
}
