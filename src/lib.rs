//! KeeMU backend core, independent of the compilation target.
//!
//! - [`auth`]: password policy and hashing, access and refresh tokens (no routes, no SQL).
//! - [`domain`]: value types that can only hold valid values (`Email`, `Timezone`, `UserId`, ...).
//! - [`digests`]: when each person's digest closes and what it covers.
//! - [`db`]: the database layer: the host connection traits, the shared/dedicated connection
//!   policy, transactions, typed errors, row decoding and the common model columns.
//! - [`models`]: the models and the SQL that serves them, side by side.
//! - [`http`]: request handling for the health, api and ingest components, and the one place
//!   where errors become HTTP responses.
//! - [`ingest`]: fetching the sources' feeds (RSS/Atom) and storing their items.
//! - [`observability`]: structured JSON logs.
//! - [`outbound`]: the one module that sends HTTP (Google's keys, source pages and feeds): the
//!   trait the components implement, which URLs user input may make us fetch (no private
//!   networks, checked before any request and on every redirect), and one error type.
//! - [`sources`]: the sources people follow: their kind, canonical identity, pasted URLs and
//!   display names, and what people paste resolved to the source to follow (YouTube handles,
//!   blog pages' feeds).
//!
//! The Spin components (`components/`) and the native test adapter (`crates/pg-native`) plug a
//! concrete [`db::Connector`] into this code.

pub mod auth;
pub mod db;
pub mod digests;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod models;
pub mod observability;
pub mod outbound;
pub mod sources;

/// The version reported by every component: the Cargo package version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
