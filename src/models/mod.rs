//! Models, each with the SQL that serves it in the same folder.
//!
//! - [`user`]: users and their digest preferences (`users`, `user_preferences`).
//! - [`account`]: passwords, sign-in throttle, refresh-token sessions, Google identities.

pub mod account;
pub mod user;
