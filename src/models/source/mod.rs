//! Sources people follow, their subscriptions and the items ingested from them.
//!
//! - this module: the model types ([`Subscription`] with its [`SourceView`], [`Item`],
//!   [`FeedItem`]), what a write may change ([`SubscriptionChanges`]), ids and the opaque
//!   [`ItemCursor`] of the item lists;
//! - [`sql`]: the statements, one per operation;
//! - [`store`]: the operations, each one round trip over any [`crate::db::Db`].
//!
//! Every statement takes the signed-in user's id and finds only that user's rows, and only
//! while the user is active: another user's subscription is "not found", never shown.

pub mod sql;
pub mod store;

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use serde::{Serialize, Serializer};
use spin_sdk::pg::{DbValue, Decode, Error as PgError, ParameterValue};

use crate::db::{DbError, Model, Record, Row, Timestamp};
use crate::domain::UserId;
pub use crate::models::Page;
use crate::models::user::Change;
use crate::sources::{DisplayName, SourceKind};

/// The most subscriptions one user may have, paused ones included (each active one is a
/// source the service fetches on the user's behalf). Subscribing beyond it is refused (422);
/// following a source already followed is not a new subscription. Documented in README (the
/// subscriptions API) and the OpenAPI document (`NewSubscription`), which a test checks
/// against this value.
pub const MAX_SUBSCRIPTIONS: i64 = 500;

/// A subscription's id: a positive `i64`; path segments must be canonical decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubscriptionId(i64);

impl SubscriptionId {
    #[must_use]
    pub const fn new(id: i64) -> Option<Self> {
        if id > 0 { Some(Self(id)) } else { None }
    }

    /// The canonical decimal rendering of a positive `i64` (no sign, no leading zero).
    #[must_use]
    pub fn parse_path_segment(segment: &str) -> Option<Self> {
        UserId::parse_path_segment(segment).map(|id| Self(id.get()))
    }

    #[must_use]
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for SubscriptionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

impl Decode for SubscriptionId {
    fn decode(value: &DbValue) -> Result<Self, PgError> {
        match value {
            DbValue::Int64(id) => Self::new(*id)
                .ok_or_else(|| PgError::Decode("subscription id: not positive".into())),
            _ => Err(PgError::Decode(
                "subscription id: expected a bigint database value".into(),
            )),
        }
    }
}

impl From<SubscriptionId> for ParameterValue {
    fn from(id: SubscriptionId) -> Self {
        ParameterValue::Int64(id.0)
    }
}

/// A source as its subscribers see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceView {
    pub id: i64,
    pub kind: SourceKind,
    pub identifier: String,
    pub title: Option<String>,
    pub site_url: Option<String>,
    pub feed_url: String,
    /// When ingestion last fetched its feed.
    pub last_fetched_at: Option<Timestamp>,
}

impl SourceView {
    fn from_row(row: &Row, prefix: &str) -> Result<SourceView, DbError> {
        let row = row.prefixed(prefix);
        Ok(SourceView {
            id: row.get("id")?,
            kind: row.get("kind")?,
            identifier: row.get("identifier")?,
            title: row.get_opt("title")?,
            site_url: row.get_opt("site_url")?,
            feed_url: row.get("feed_url")?,
            last_fetched_at: row.get_opt("last_fetched_at")?,
        })
    }
}

/// A user's subscription to a source (the source's columns are prefixed `s_`).
#[derive(Clone, PartialEq, Serialize)]
pub struct Subscription {
    pub display_name: Option<DisplayName>,
    pub notifications_enabled: bool,
    pub is_active: bool,
    pub source: SourceView,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("notifications_enabled", &self.notifications_enabled)
            .field("is_active", &self.is_active)
            .field("source_id", &self.source.id)
            .finish_non_exhaustive()
    }
}

impl Model for Subscription {
    const NAME: &'static str = "Subscription";
    type Id = SubscriptionId;

    fn from_row(row: &Row, prefix: &str) -> Result<Subscription, DbError> {
        let columns = row.prefixed(prefix);
        Ok(Subscription {
            display_name: columns.get_opt("display_name")?,
            notifications_enabled: columns.get("notifications_enabled")?,
            is_active: columns.get("is_active")?,
            source: SourceView::from_row(row, &format!("{prefix}s_"))?,
        })
    }
}

/// What a `PATCH /me/subscriptions/{id}` changes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SubscriptionChanges {
    pub display_name: Change<DisplayName>,
    pub notifications_enabled: Option<bool>,
    pub is_active: Option<bool>,
}

impl SubscriptionChanges {
    pub fn is_empty(&self) -> bool {
        self.display_name.is_keep()
            && self.notifications_enabled.is_none()
            && self.is_active.is_none()
    }
}

/// An item of a source's feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub id: i64,
    pub title: String,
    pub url: Option<String>,
    pub author: Option<String>,
    pub published_at: Timestamp,
    pub summary: Option<String>,
}

impl Item {
    pub fn from_row(row: &Row) -> Result<Item, DbError> {
        Ok(Item {
            id: row.get("id")?,
            title: row.get("title")?,
            url: row.get_opt("url")?,
            author: row.get_opt("author")?,
            published_at: row.get("published_at")?,
            summary: row.get_opt("summary")?,
        })
    }

    /// Where the next page starts: just after this item.
    pub fn cursor(&self) -> ItemCursor {
        ItemCursor {
            published_micros: self.published_at.micros(),
            id: self.id,
        }
    }
}

/// The source of a feed item, as the feed shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedSource {
    pub id: i64,
    pub subscription_id: SubscriptionId,
    pub kind: SourceKind,
    pub title: Option<String>,
    pub display_name: Option<DisplayName>,
}

/// An item of the user's feed, with its source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedItem {
    #[serde(flatten)]
    pub item: Item,
    pub source: FeedSource,
}

impl FeedItem {
    pub fn from_row(row: &Row) -> Result<FeedItem, DbError> {
        Ok(FeedItem {
            item: Item::from_row(row)?,
            source: FeedSource {
                id: row.get("source_id")?,
                subscription_id: row.get("subscription_id")?,
                kind: row.get("source_kind")?,
                title: row.get_opt("source_title")?,
                display_name: row.get_opt("display_name")?,
            },
        })
    }
}

/// Where a page of items starts: strictly older than this item in the order
/// (`published_at` descending, then `id` descending). Opaque to clients: base64url of
/// `<published_at in microseconds>.<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemCursor {
    pub published_micros: i64,
    pub id: i64,
}

impl ItemCursor {
    /// The opaque text of this cursor.
    #[must_use]
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", self.published_micros, self.id))
    }

    /// Parses [`ItemCursor::encode`]'s text.
    #[must_use]
    pub fn decode(text: &str) -> Option<ItemCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        let (micros, id) = text.split_once('.')?;
        let canonical = |s: &str| {
            let digits = s.strip_prefix('-').unwrap_or(s);
            !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'))
        };
        if !canonical(micros) || !canonical(id) {
            return None;
        }
        let cursor = ItemCursor {
            published_micros: micros.parse().ok()?,
            id: id.parse().ok().filter(|id: &i64| *id > 0)?,
        };
        cursor.published_at()?;
        Some(cursor)
    }

    /// The `published_at` of the cursor's item.
    #[must_use]
    pub fn published_at(&self) -> Option<Timestamp> {
        DateTime::from_timestamp_micros(self.published_micros).map(Timestamp::new)
    }
}

impl Serialize for ItemCursor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.encode())
    }
}

/// A page of the user's subscriptions, by id ascending.
pub type SubscriptionPage = Page<Record<Subscription>, SubscriptionId>;
/// A page of one source's items, newest first.
pub type ItemPage = Page<Item, ItemCursor>;
/// A page of the user's feed, newest first.
pub type FeedPage = Page<FeedItem, ItemCursor>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let cursor = ItemCursor {
            published_micros: 1_764_000_000_123_456,
            id: 42,
        };
        assert_eq!(ItemCursor::decode(&cursor.encode()), Some(cursor));
        let old = ItemCursor {
            published_micros: -1_000,
            id: 1,
        };
        assert_eq!(ItemCursor::decode(&old.encode()), Some(old));
        for junk in [
            "",
            "x",
            "MTIz",
            "!!",
            &URL_SAFE_NO_PAD.encode("1.0"),
            &URL_SAFE_NO_PAD.encode("01.5"),
            &URL_SAFE_NO_PAD.encode("1.+5"),
            &URL_SAFE_NO_PAD.encode("1.5.6"),
            &URL_SAFE_NO_PAD.encode("99999999999999999999.5"),
            &URL_SAFE_NO_PAD.encode(" 1.5"),
        ] {
            assert_eq!(ItemCursor::decode(junk), None, "{junk}");
        }
    }

    #[test]
    fn subscription_ids_are_canonical() {
        assert_eq!(
            SubscriptionId::parse_path_segment("7").map(SubscriptionId::get),
            Some(7)
        );
        for bad in ["0", "-1", "07", "+7", "x", ""] {
            assert_eq!(SubscriptionId::parse_path_segment(bad), None, "{bad}");
        }
    }
}
