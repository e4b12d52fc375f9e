//! `/links/...`: the signed links a digest carries ([`crate::digests::links`]), authorised by
//! the `token` in their query ([`crate::auth::link`]), for browsers, mail clients and feed
//! readers:
//!
//! | route | answer |
//! |---|---|
//! | `GET /links/digest?token=T` | the digest `T` names, as a page (`text/html`) |
//! | `GET /links/unsubscribe?token=T` | a page with a button that POSTs to the same URL (if the user exists); changes nothing (mail scanners fetch links) |
//! | `POST /links/unsubscribe?token=T` | RFC 8058 one-click unsubscribe (any body, `List-Unsubscribe=One-Click` expected): e-mail off for the user `T` names, 200 and a page |
//! | `GET /links/verify-email?token=T` | a page with a button that POSTs to the same URL (if the proof still holds); changes nothing |
//! | `POST /links/verify-email?token=T` | sets the address of the proof `T` names verified, if it is still its user's address; 200 and a page |
//! | `GET /links/digests.atom?token=T` | the Atom feed of the user's newest [`FEED_DIGESTS`] digests (skipped ones left out) |
//!
//! Refusals: a missing, forged, altered, expired or other-purpose token, and a token whose
//! digest or user no longer exists (or whose user is inactive, for pages and the feed), an
//! address proof whose address is no longer its user's, all
//! answer **404** `no such link`, the same body whatever the reason, and change nothing.
//! `link_key` empty (the default): every `/links/...` route answers 404 saying links are
//! disabled; an invalid `link_key` or `public_base_url`: 503 (not configured).
//!
//! Every answer, errors included, carries a strict Content-Security-Policy (no script at
//! all), `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` (the token is in
//! the URL) and `Cache-Control: private, no-store`.

use chrono::{DateTime, Utc};
use http::{HeaderValue, StatusCode, header};

use super::config::{ApiConfig, not_configured};
use super::routes::{LinkOp, LinkRoute};
use crate::auth::link::Purpose;
use crate::db::Db;
use crate::digests::links::Links;
use crate::digests::render::{self, DigestLinks};
use crate::domain::UserId;
use crate::http::{ApiError, Request, Response};
use crate::models::digest::linked;
use crate::models::proof;

/// Digests in the Atom feed.
pub const FEED_DIGESTS: u32 = 20;

/// The policy of every `/links/...` answer: nothing but inline styles; forms only to this
/// origin; never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src https: http:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The detail of every refused link.
const NO_SUCH_LINK: ApiError = ApiError::NotFound("no such link");
/// The detail when `link_key` is empty.
const DISABLED: ApiError = ApiError::NotFound("signed links are disabled on this server");

const HTML: &str = "text/html; charset=utf-8";
const ATOM: &str = "application/atom+xml; charset=utf-8";

/// Answers a request for the signed link `route` at `now`.
pub async fn serve<D: Db>(
    request: &Request,
    route: &LinkRoute,
    config: &ApiConfig,
    db: &D,
    now: DateTime<Utc>,
) -> Response {
    let mut response = match answer(request, route, config, db, now).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        ),
        (
            header::HeaderName::from_static("x-robots-tag"),
            HeaderValue::from_static("noindex, nofollow"),
        ),
    ] {
        headers.insert(name, value);
    }
    response
}

async fn answer<D: Db>(
    request: &Request,
    route: &LinkRoute,
    config: &ApiConfig,
    db: &D,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let links = match &config.links {
        Ok(Some(links)) => links,
        Ok(None) => return Err(DISABLED),
        Err(reason) => return Err(not_configured(reason)),
    };
    let op = route
        .operation(request.method())
        .ok_or_else(|| ApiError::MethodNotAllowed {
            allow: route.allow(),
        })?;
    let token = token(request);
    match op {
        LinkOp::DigestPage => {
            let id = verify(links, Purpose::ViewDigest, &token, now)?;
            let (digest, zone) = linked::digest(db, id).await?.ok_or(NO_SUCH_LINK)?;
            let footer = DigestLinks {
                page: None,
                unsubscribe: Some(links.unsubscribe(digest.user_id, now)),
                feed: None,
            };
            Ok(body(HTML, render::html(&digest, zone.tz(), &footer)))
        }
        LinkOp::UnsubscribePage => {
            let user = verify_user(links, Purpose::Unsubscribe, &token, now)?;
            if !linked::user_exists(db, user).await? {
                return Err(NO_SUCH_LINK);
            }
            // No `action`: the form posts to this page's own URL, token included.
            Ok(body(
                HTML,
                notice(
                    "Unsubscribe from KeeMU digests",
                    "<p>Stop receiving digest e-mails from KeeMU?</p>\n\
<form method=\"post\"><button type=\"submit\" style=\"font-size:1rem;padding:8px 16px;\">\
Unsubscribe</button></form>\n\
<p>You can turn e-mails back on at any time in your KeeMU settings.</p>",
                ),
            ))
        }
        LinkOp::Unsubscribe => {
            let user = verify_user(links, Purpose::Unsubscribe, &token, now)?;
            if !linked::unsubscribe(db, user).await? {
                return Err(NO_SUCH_LINK);
            }
            Ok(body(
                HTML,
                notice(
                    "You are unsubscribed",
                    "<p>KeeMU will send you no more digest e-mails.</p>\n\
<p>You can turn them back on at any time in your KeeMU settings.</p>",
                ),
            ))
        }
        LinkOp::VerifyEmailPage => {
            let id = verify(links, Purpose::VerifyEmail, &token, now)?;
            if !proof::valid(db, id).await? {
                return Err(NO_SUCH_LINK);
            }
            Ok(body(
                HTML,
                notice(
                    "Confirm your e-mail address",
                    "<p>Confirm that KeeMU may send digests to this address?</p>\n\
<form method=\"post\"><button type=\"submit\" style=\"font-size:1rem;padding:8px 16px;\">\
Confirm</button></form>",
                ),
            ))
        }
        LinkOp::VerifyEmail => {
            let id = verify(links, Purpose::VerifyEmail, &token, now)?;
            if !proof::verify(db, id).await? {
                return Err(NO_SUCH_LINK);
            }
            Ok(body(
                HTML,
                notice(
                    "Your e-mail address is confirmed",
                    "<p>KeeMU will send your digests to this address.</p>",
                ),
            ))
        }
        LinkOp::DigestFeed => {
            let user = verify_user(links, Purpose::DigestFeed, &token, now)?;
            let (name, digests) = linked::feed(db, user, FEED_DIGESTS)
                .await?
                .ok_or(NO_SUCH_LINK)?;
            let feed = render::atom(&links.feed(user), &name, &digests, |digest| {
                Some(links.digest(digest.id, now))
            });
            Ok(body(ATOM, feed))
        }
    }
}

/// The query's first `token` (empty if none).
fn token(request: &Request) -> String {
    request
        .uri()
        .query()
        .and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == "token")
                .map(|(_, value)| value.into_owned())
        })
        .unwrap_or_default()
}

fn verify(
    links: &Links,
    purpose: Purpose,
    token: &str,
    now: DateTime<Utc>,
) -> Result<i64, ApiError> {
    links.key().verify(purpose, token, now).ok_or(NO_SUCH_LINK)
}

fn verify_user(
    links: &Links,
    purpose: Purpose,
    token: &str,
    now: DateTime<Utc>,
) -> Result<UserId, ApiError> {
    UserId::new(verify(links, purpose, token, now)?).ok_or(NO_SUCH_LINK)
}

fn body(content_type: &'static str, text: String) -> Response {
    let mut response = http::Response::new(text.into_bytes());
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A small page: `title` as its heading, then `html` (constant markup only).
fn notice(title: &'static str, html: &'static str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"referrer\" content=\"no-referrer\">\n<title>{title}</title>\n</head>\n\
<body style=\"margin:0;padding:0;background:#f6f6f4;color:#1a1a1a;\
font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;\
font-size:16px;line-height:1.5;\">\n\
<main style=\"max-width:40rem;margin:0 auto;padding:16px;background:#ffffff;\">\n\
<h1 style=\"font-size:1.5rem;margin:0 0 8px;\">{title}</h1>\n{html}\n</main>\n</body>\n</html>\n"
    )
}
