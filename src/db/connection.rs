//! What a host adapter provides: opening connections and running statements on them.
//!
//! Implemented over `spin_sdk::pg::Connection` in the components (`keemu-spin-glue`) and over
//! tokio-postgres/deadpool-postgres in the native tests (`keemu-pg-native`), both in terms of
//! the host's own parameter and value types, so a statement Spin rejects fails natively too.

use std::time::Duration;

use spin_sdk::pg::{ParameterValue, PgError};

use super::row::Row;

/// One PostgreSQL connection taken from the host's pool.
///
/// Dropping it returns it to the pool.
#[allow(async_fn_in_trait)]
pub trait Connection {
    /// Runs a statement that returns rows.
    async fn query(&self, sql: &str, params: &[ParameterValue]) -> Result<Vec<Row>, PgError>;

    /// Runs a statement and returns the number of rows it affected.
    async fn execute(&self, sql: &str, params: &[ParameterValue]) -> Result<u64, PgError>;

    /// Called when a transaction on this connection could not be ended (its future was
    /// dropped before COMMIT or ROLLBACK was sent). The adapter must make sure the connection
    /// does not go back to the pool inside that transaction.
    fn abandon(self);
}

/// Opens connections to the configured database and provides the timer used to bound calls.
#[allow(async_fn_in_trait)]
pub trait Connector {
    /// The connection type this connector opens.
    type Conn: Connection;

    /// Takes a connection from the host's pool.
    async fn open(&self) -> Result<Self::Conn, PgError>;

    /// Waits for `duration` (used to race database calls against the timeout).
    async fn sleep(&self, duration: Duration);
}
