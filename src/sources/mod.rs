//! The sources people follow: what they paste, what kind of source it is, its canonical
//! identity (one row of `content_sources` however it was pasted), and a subscription's own
//! name for it.
//!
//! - [`kind`]: [`SourceKind`] (`youtube_channel`, `subreddit`, `blog`).
//! - [`identity`]: the canonical [`Source`] (kind, identifier, feed URL) and its identifiers
//!   ([`YoutubeChannelId`], [`SubredditName`]).
//! - [`web_url`]: [`WebUrl`], the canonical form of an `http`/`https` URL.
//! - [`pasted`]: what people paste (YouTube, Reddit and blog forms) parsed into a
//!   [`SourceInput`].
//! - [`display_name`]: [`DisplayName`], a subscription's own name for its source.
//! - [`resolve`]: what people paste, resolved to the source to follow (pages fetched through
//!   [`crate::outbound`]); `page` reads the fetched pages (is it a feed, feed links, channel ids).

pub mod display_name;
pub mod identity;
pub mod kind;
mod page;
pub mod pasted;
pub mod resolve;
pub mod web_url;

pub use display_name::DisplayName;
pub use identity::{MAX_TITLE_CHARS, Source, SubredditName, YoutubeChannelId, clean_title};
pub use kind::SourceKind;
pub use pasted::SourceInput;
pub use web_url::{MAX_URL_CHARS, WebUrl};
