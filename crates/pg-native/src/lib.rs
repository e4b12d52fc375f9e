//! Native stand-ins for what Spin's host provides, for tests and tools that run outside Spin.
//!
//! - [`adapter`]: [`keemu::db::Connector`] over deadpool-postgres/tokio-postgres, the crates
//!   Spin's host uses, with the host's pool settings and its parameter/value conversions.
//!   It records every statement sent, so tests can count statements per request.
//! - [`migrate`]: applies `migrations/` with refinery, over TLS as the address asks
//!   ([`address`]: libpq's `sslmode`/`sslrootcert`; [`tls`]: the checks each mode makes).
//! - [`testing`]: a fresh, migrated database per test.

// `spin_sdk::pg::PgError` is the host's error type, returned as the host returns it (the SDK
// allows this lint for the same reason).
#![allow(clippy::result_large_err)]

pub mod adapter;
pub mod address;
pub mod migrate;
pub mod testing;
pub mod tls;

pub use adapter::{NativeConnection, NativeConnector, StatementLog};
pub use refinery;
