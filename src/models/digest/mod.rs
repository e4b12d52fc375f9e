//! Digests: the users due for one, a period's candidate items, the digest written with its
//! items, and a user's digests as they read them ([`DigestSummary`] pages with a
//! [`DigestCursor`], one [`DigestView`]). The statements are in [`sql`], the operations in
//! [`store`]; what the signed links (`/links/...`) read and write is in [`linked`].

pub mod linked;
pub mod sql;
pub mod store;

use chrono::DateTime;
use serde::{Serialize, Serializer};

use crate::db::{DbError, Row, Timestamp};
use crate::domain::{SummaryLength, Timezone, UpdateFrequency, UserId};
use crate::models::Page;
use crate::models::source::ItemCursor;

/// A user claimed for a digest round, with what their schedule needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub user_id: UserId,
    pub timezone: Timezone,
    pub update_frequency: UpdateFrequency,
    pub summary_length: SummaryLength,
    pub email_notifications_enabled: bool,
    /// The end of the user's latest digest.
    pub previous_end: Option<Timestamp>,
    /// When the user first followed a source they still follow.
    pub first_followed: Option<Timestamp>,
}

/// An item that may go into a digest, in the order the digest would show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: i64,
    pub title: String,
    pub url: Option<String>,
    pub summary: Option<String>,
    pub source_id: i64,
    pub published_at: Timestamp,
}

/// A built digest claimed for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub user_id: UserId,
    /// Attempts so far, this one included.
    pub attempts: i64,
    /// `false`: taken out of the queue (e-mail off, the address unverified, the user inactive, or the digest too
    /// old), not to be sent.
    pub wanted: bool,
    pub email: String,
    pub timezone: Timezone,
}

/// What became of a delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Try again after this many seconds.
    RetryIn(u32),
    /// Given up.
    Failed,
}

/// A digest as its reader sees it: its period and the items it showed, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestView {
    pub id: i64,
    pub user_id: UserId,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    pub update_frequency: UpdateFrequency,
    pub summary_length: SummaryLength,
    /// `built`, `sent`, `failed` or `skipped`.
    pub status: String,
    pub overview: Option<String>,
    pub sent_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub items: Vec<DigestItemView>,
}

/// One item of a digest, with the source it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestItemView {
    /// From 1.
    pub position: i64,
    pub item_id: i64,
    /// Text from a stranger's feed: escape it wherever it is shown.
    pub title: String,
    /// From a stranger's feed: show it as a link only if it is `http(s)`.
    pub url: Option<String>,
    pub excerpt: Option<String>,
    pub published_at: Timestamp,
    pub source_id: i64,
    /// `youtube`, `reddit` or `blog`.
    pub source_kind: String,
    /// The user's name for the source, else its title, else its identifier.
    pub source_name: String,
}

/// A digest in the list of a user's digests (`GET /me/digests`): its period, how it was
/// built, and what became of it; without its items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DigestSummary {
    pub id: i64,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    pub update_frequency: UpdateFrequency,
    pub summary_length: SummaryLength,
    /// `built`, `sent`, `failed` or `skipped`.
    pub status: String,
    pub item_count: i64,
    pub overview: Option<String>,
    pub sent_at: Option<Timestamp>,
}

impl DigestSummary {
    /// From a row of [`sql::LIST`].
    pub fn from_row(row: &Row) -> Result<DigestSummary, DbError> {
        Ok(DigestSummary {
            id: row.get("id")?,
            period_start: row.get("period_start")?,
            period_end: row.get("period_end")?,
            update_frequency: row.get("update_frequency")?,
            summary_length: row.get("summary_length")?,
            status: row.get("status")?,
            item_count: row.get("item_count")?,
            overview: row.get_opt("overview")?,
            sent_at: row.get_opt("sent_at")?,
        })
    }

    /// Where the next page starts: just after this digest.
    #[must_use]
    pub fn cursor(&self) -> DigestCursor {
        DigestCursor {
            period_end_micros: self.period_end.micros(),
            id: self.id,
        }
    }
}

/// Where a page of digests starts: strictly older than this digest in the order
/// (`period_end` descending, then `id` descending). Opaque to clients; the same encoding as
/// [`ItemCursor`] (base64url of `<microseconds>.<id>`), read by its parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestCursor {
    pub period_end_micros: i64,
    pub id: i64,
}

impl DigestCursor {
    fn as_item(self) -> ItemCursor {
        ItemCursor {
            published_micros: self.period_end_micros,
            id: self.id,
        }
    }

    /// The opaque text of this cursor.
    #[must_use]
    pub fn encode(&self) -> String {
        self.as_item().encode()
    }

    /// Parses [`DigestCursor::encode`]'s text.
    #[must_use]
    pub fn decode(text: &str) -> Option<DigestCursor> {
        ItemCursor::decode(text).map(|c| DigestCursor {
            period_end_micros: c.published_micros,
            id: c.id,
        })
    }

    /// The `period_end` of the cursor's digest.
    #[must_use]
    pub fn period_end(&self) -> Option<Timestamp> {
        DateTime::from_timestamp_micros(self.period_end_micros).map(Timestamp::new)
    }
}

impl Serialize for DigestCursor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.encode())
    }
}

/// A page of a user's digests, newest first.
pub type DigestPage = Page<DigestSummary, DigestCursor>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let cursor = DigestCursor {
            period_end_micros: 1_764_000_000_000_000,
            id: 7,
        };
        assert_eq!(DigestCursor::decode(&cursor.encode()), Some(cursor));
        assert!(cursor.period_end().is_some());
        for junk in ["", "x", "MTIz", "!!"] {
            assert_eq!(DigestCursor::decode(junk), None, "{junk}");
        }
    }
}
