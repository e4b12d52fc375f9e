//! Models, each with the SQL that serves it in the same folder.
//!
//! - [`user`]: users and their digest preferences (`users`, `user_preferences`).
//! - [`account`]: passwords, sign-in throttle, refresh-token sessions, Google identities.
//! - [`digest`]: digests, their items and each user's digest schedule (`digests`,
//!   `digest_items`, `digest_schedules`).
//! - [`source`]: sources people follow, their subscriptions, items and the feed
//!   (`content_sources`, `user_subscriptions`, `content_items`).
//! - [`proof`]: e-mail address proofs (`email_proofs`).
//! - [`page`]: [`Page`], one page of any of their keyset-paginated lists.

pub mod account;
pub mod digest;
pub mod page;
pub mod proof;
pub mod source;
pub mod user;

pub use page::Page;
