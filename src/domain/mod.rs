//! Domain value types: "parse, don't validate".
//!
//! Each type here can only hold a valid value: the field is private and the only ways in are
//! parsing constructors (`parse`, `FromStr`, `new`, database decoding), which check every rule
//! and normalise the value (e.g. trimming, lower-casing an email). Code that receives one of
//! these types never needs to validate it again.
//!
//! | Type | Rules | JSON | Database |
//! |------|-------|------|----------|
//! | [`Email`] | trimmed, NFC, lower-cased, no format (Cf) characters, ≤ 255 chars, plain address, domain with a dot | string | text |
//! | [`Timezone`] | IANA name known to chrono-tz (exact case); default `UTC` | string | text |
//! | [`UserId`] | `i64 > 0`; path segments must be canonical decimal | number | bigint |
//! | [`UpdateFrequency`] | `daily`, `every_3_days`, `weekly` (default), `every_2_weeks`, `monthly` | string | text |
//! | [`SummaryLength`] | `concise`, `standard` (default), `detailed` | string | text |
//! | [`UserName`] | trimmed, 1–100 chars, no control or format (Cf) characters | string | text |
//! | [`Profession`] | trimmed, 1–100 chars, no control or format (Cf) characters | string | text |
//! | [`ProfilePicture`] | trimmed, ≤ 255 chars, starts `http://`/`https://` (any case), URL with a host, no backslash | string | text |
//! | [`DateOfBirth`] | `YYYY-MM-DD`, from 1900-01-01 to today | `"YYYY-MM-DD"` | date |
//! | [`SourceKind`] | `youtube_channel`, `subreddit`, `blog` | string | text |
//! | [`SourceInput`] | what people paste to follow a source ([`source_url`]) | string | - |
//! | [`DisplayName`] | a subscription's own name: trimmed, 1–100 chars, no control or format (Cf) characters | string | text |
//!
//! Privacy: a rejected value never appears in a [`DomainError`] (its parts are `&'static str`
//! constants), nor in a database decoding error. The `Debug` output of the personal-data types
//! ([`Email`], [`UserName`], [`Profession`], [`ProfilePicture`], [`DateOfBirth`]) is
//! `Type(<redacted>)`, and they do not implement `Display`: use `as_str()` / `date()` where the
//! value is really needed.
//!
//! Every type implements [`spin_sdk::pg::Decode`] (a value that fails validation gives
//! [`spin_sdk::pg::Error::Decode`]) and converts into [`spin_sdk::pg::ParameterValue`] (by value
//! and by reference).

mod email;
mod error;
mod preferences;
pub mod source_url;
mod timezone;
mod user_fields;
mod user_id;

pub use email::Email;
pub use error::DomainError;
pub use preferences::{SummaryLength, UpdateFrequency};
pub use source_url::{
    DisplayName, Source, SourceInput, SourceKind, SubredditName, WebUrl, YoutubeChannelId,
};
pub use timezone::Timezone;
pub use user_fields::{DateOfBirth, Profession, ProfilePicture, UserName};
pub use user_id::UserId;
