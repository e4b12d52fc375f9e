//! `/api/v1/me/digests` and `/api/v1/me/digests/{digest_id}`: the signed-in user's digests.
//!
//! | route                              | methods   |
//! |------------------------------------|-----------|
//! | `/api/v1/me/digests`               | GET, HEAD |
//! | `/api/v1/me/digests/{digest_id}`   | GET, HEAD |
//!
//! The list is newest first (`period_end`, then `id`, descending) in keyset pages with an
//! opaque `before` cursor, as the feed ([`super::feed`]); each entry is a digest without its
//! items ([`DigestSummary`]). One digest is shown with its items in order, each with its
//! source. The list also names `feed_url`, the user's private Atom feed of their digests
//! (a signed link that never expires; null when `link_key` is unset). Another user's digest id, like one that does not exist or is not a positive
//! 64-bit integer, is 404: nobody learns whether it exists. A token whose account is gone or
//! deactivated gets 401, as on every `/me` route (the check is part of the one statement).

use http::StatusCode;
use serde::Serialize;

use super::input;
use super::me::ACCOUNT_GONE;
use crate::db::{Db, Timestamp};
use crate::digests::links::Links;
use crate::domain::{SummaryLength, UpdateFrequency, UserId};
use crate::http::{ApiError, Request, Response, serialized_response};
use crate::models::digest::store::{self, Mine};
use crate::models::digest::{DigestCursor, DigestItemView, DigestView};

const NO_SUCH_DIGEST: &str = "no digest with this id";

/// A digest's id from its path segment: anything but a positive 64-bit integer in canonical
/// decimal names no digest (404).
pub fn digest_id(segment: &str) -> Result<i64, ApiError> {
    UserId::parse_path_segment(segment)
        .map(UserId::get)
        .ok_or(ApiError::NotFound(NO_SUCH_DIGEST))
}

/// `GET /me/digests?limit=&before=`: a page, and `feed_url`, the private Atom feed of the
/// user's digests (a signed link; null when signed links are not configured).
pub async fn list<D: Db>(
    request: &Request,
    me: UserId,
    links: Option<&Links>,
    db: &D,
) -> Result<Response, ApiError> {
    let query = input::page_query(
        request.uri().query(),
        "before",
        DigestCursor::decode,
        "must be the next_cursor of a previous page",
    )?;
    let page = store::list(db, me, query.cursor, query.limit)
        .await?
        .ok_or(ACCOUNT_GONE)?;
    let feed_url = links.map(|links| links.feed(me));
    serialized_response(StatusCode::OK, &ListBody { page, feed_url })
}

/// The body of `GET /me/digests` (the `DigestPage` schema).
#[derive(Serialize)]
struct ListBody<P: Serialize> {
    #[serde(flatten)]
    page: P,
    feed_url: Option<String>,
}

/// `GET /me/digests/{digest_id}`.
pub async fn get<D: Db>(me: UserId, id: i64, db: &D) -> Result<Response, ApiError> {
    match store::mine(db, me, id).await? {
        Mine::Found(digest) => serialized_response(StatusCode::OK, &Body::from(&digest)),
        Mine::NotFound => Err(ApiError::NotFound(NO_SUCH_DIGEST)),
        Mine::UserGone => Err(ACCOUNT_GONE),
    }
}

/// The body of `GET /me/digests/{digest_id}` (the `Digest` schema).
#[derive(Serialize)]
struct Body<'a> {
    id: i64,
    period_start: Timestamp,
    period_end: Timestamp,
    update_frequency: UpdateFrequency,
    summary_length: SummaryLength,
    status: &'a str,
    item_count: usize,
    overview: Option<&'a str>,
    sent_at: Option<Timestamp>,
    items: Vec<Item<'a>>,
}

/// One item of a digest (the `DigestItem` schema).
#[derive(Serialize)]
struct Item<'a> {
    position: i64,
    item_id: i64,
    title: &'a str,
    url: Option<&'a str>,
    excerpt: Option<&'a str>,
    published_at: Timestamp,
    source: Source<'a>,
}

/// The source of a digest's item (the `DigestSource` schema).
#[derive(Serialize)]
struct Source<'a> {
    id: i64,
    kind: &'a str,
    name: &'a str,
}

impl<'a> From<&'a DigestView> for Body<'a> {
    fn from(digest: &'a DigestView) -> Self {
        Body {
            id: digest.id,
            period_start: digest.period_start,
            period_end: digest.period_end,
            update_frequency: digest.update_frequency,
            summary_length: digest.summary_length,
            status: &digest.status,
            item_count: digest.items.len(),
            overview: digest.overview.as_deref(),
            sent_at: digest.sent_at,
            items: digest.items.iter().map(Item::from).collect(),
        }
    }
}

impl<'a> From<&'a DigestItemView> for Item<'a> {
    fn from(item: &'a DigestItemView) -> Self {
        Item {
            position: item.position,
            item_id: item.item_id,
            title: &item.title,
            url: item.url.as_deref(),
            excerpt: item.excerpt.as_deref(),
            published_at: item.published_at,
            source: Source {
                id: item.source_id,
                kind: &item.source_kind,
                name: &item.source_name,
            },
        }
    }
}
