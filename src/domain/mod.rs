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
//!
//! The sources' types (kind, canonical identity, pasted URLs, display names) are in
//! [`crate::sources`]; they are built on the helpers here (`named_enum!` for closed sets of
//! names, `bounded_text!` (on `parse_text`/`personal_string!`) for trimmed text like [`UserName`]).
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
mod named_enum;
mod preferences;
mod timezone;
mod user_fields;
mod user_id;

pub use email::Email;
pub use error::DomainError;
pub use preferences::{SummaryLength, UpdateFrequency};
pub use timezone::Timezone;
pub use user_fields::{DateOfBirth, Profession, ProfilePicture, UserName};
pub use user_id::UserId;

#[cfg(test)]
pub(crate) use error::FORMAT_CHARACTER;
pub(crate) use error::{decode_str, longer_than};
pub(crate) use named_enum::named_enum;
pub(crate) use user_fields::{bounded_text, parse_text, personal_string};
