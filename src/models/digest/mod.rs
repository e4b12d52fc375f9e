//! Digests: the users due for one, a period's candidate items, and the digest written with
//! its items. The statements are in [`sql`], the operations in [`store`]; what the signed
//! links (`/links/...`) read and write is in [`linked`].

pub mod linked;
pub mod sql;
pub mod store;

use crate::db::Timestamp;
use crate::domain::{SummaryLength, Timezone, UpdateFrequency, UserId};

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
    /// `false`: taken out of the queue (e-mail off, the user inactive, or the digest too
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
