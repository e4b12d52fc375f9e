//! Database layer.
//!
//! - [`connection`]: the two traits a host adapter implements (`Connector`, `Connection`),
//!   in terms of the `spin_sdk::pg` parameter and value types.
//! - [`database`]: [`Database`], the policy on top: one connection per component instance
//!   shared by autocommit statements, a dedicated connection per transaction, every call
//!   bounded by a timeout.
//! - [`deadlines`]: one watcher (under Spin, per request) for the timeouts of its calls.
//! - [`error`]: typed database errors ([`DbError`]).
//! - [`row`]: rows decoded by column name.
//! - [`record`]: the common columns every table has (`id`, `created_at`, `updated_at`).
//! - [`address`]: connection-string helpers (connect timeout, redaction for logs).

pub mod address;
pub mod connection;
pub mod database;
pub mod deadlines;
pub mod error;
pub mod record;
pub mod row;

pub use connection::{Connection, Connector};
pub use database::{Database, Db, SharedConnection, Transaction};
pub use error::{DbError, Unavailable};
pub use record::{Model, Record, Timestamp};
pub use row::{Prefixed, Row};
pub use spin_sdk::pg::{DbValue, ParameterValue};

/// A SQL parameter that is SQL `NULL` when the value is absent.
pub fn nullable<T: Into<ParameterValue>>(value: Option<T>) -> ParameterValue {
    value.map_or(ParameterValue::DbNull, Into::into)
}
