//! Models, each with the SQL that serves it in the same folder.
//!
//! - [`user`]: users and their digest preferences (`users`, `user_preferences`).

pub mod user;
