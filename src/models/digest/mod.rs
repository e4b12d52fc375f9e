//! Digests: the users due for one, a period's candidate items, and the digest written with
//! its items. The statements are in [`sql`], the operations in [`store`].

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
