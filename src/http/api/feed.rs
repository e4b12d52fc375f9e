//! `/api/v1/me/feed`: the items of the signed-in user's active subscriptions, newest first,
//! each with its source; keyset pages on `(published_at, id)` with an opaque `before`
//! cursor, one statement whose cost does not grow with the page's depth
//! ([`crate::models::source::sql::FEED`]).

use http::StatusCode;

use super::input;
use super::me::ACCOUNT_GONE;
use crate::db::Db;
use crate::domain::UserId;
use crate::http::{ApiError, Request, Response, serialized_response};
use crate::models::source::{ItemCursor, store};

/// `GET /me/feed?limit=&before=`.
pub async fn get<D: Db>(request: &Request, me: UserId, db: &D) -> Result<Response, ApiError> {
    let query = item_query(request.uri().query())?;
    let page = store::feed(db, me, query.cursor, query.limit)
        .await?
        .ok_or(ACCOUNT_GONE)?;
    serialized_response(StatusCode::OK, &page)
}

// ------------------------------------------------------------------------------------------------
// The query of the item lists.

/// The query of the item lists (`/me/feed`, `/me/subscriptions/{id}/items`): `limit`,
/// `before` (the `next_cursor` of the previous page).
pub fn item_query(query: Option<&str>) -> Result<input::PageQuery<ItemCursor>, ApiError> {
    input::page_query(
        query,
        "before",
        ItemCursor::decode,
        "must be the next_cursor of a previous page",
    )
}
