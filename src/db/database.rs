//! The connection policy, written once for every host adapter.
//!
//! Spin's host pools connections, but every `open` costs a round trip to "clean" the pooled
//! connection, and sharing one connection per component instance measured about 1.85x the
//! requests per second of opening one per request (`../shared/spin-facts.md`). So:
//!
//! - Autocommit statements ([`Db::read`], [`Db::write`], [`Db::execute`] on a [`Database`])
//!   use the instance's [`SharedConnection`], opened on first use. A request that sends no
//!   statement opens nothing. Concurrent requests of the instance pipeline their statements
//!   on it; that is sound because each one stands alone.
//! - After a connection error the shared connection is discarded, so the next use opens a
//!   fresh one; a read that failed that way is retried once on the fresh connection (writes
//!   are not retried: they may have been applied).
//! - A transaction ([`Database::transaction`]) takes a connection of its own and always ends
//!   with COMMIT or ROLLBACK, on error paths too; a transaction that could not be ended is
//!   handed to [`Connection::abandon`] so it never goes back to the pool open.
//! - Every call is raced against the configured timeout: the host pool has no wait timeout
//!   and a hung server must not hang the request.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{Either, select};
use serde_json::json;
use spin_sdk::pg::{ParameterValue, PgError};

use super::address::redact;
use super::connection::{Connection, Connector};
use super::error::{DbError, Unavailable};
use super::row::Row;
use crate::observability::log;

/// Runs statements. Implemented by [`Database`] (autocommit, shared connection) and by
/// [`Transaction`] (inside a transaction, on its dedicated connection), so model code is
/// written once for both.
#[allow(async_fn_in_trait)]
pub trait Db {
    /// A statement that only reads. Safe to retry.
    async fn read(&self, sql: &str, params: &[ParameterValue]) -> Result<Vec<Row>, DbError>;
    /// A statement that writes and returns rows (`... RETURNING`). Never retried.
    async fn write(&self, sql: &str, params: &[ParameterValue]) -> Result<Vec<Row>, DbError>;
    /// A statement that writes and returns the number of rows affected. Never retried.
    async fn execute(&self, sql: &str, params: &[ParameterValue]) -> Result<u64, DbError>;
}

/// The connection a component instance keeps for autocommit statements.
///
/// Lives in instance-local state (a `thread_local!` in the component); cloned into each
/// request's [`Database`] as an `Rc`.
pub struct SharedConnection<C> {
    slot: RefCell<Option<Rc<C>>>,
}

impl<C> Default for SharedConnection<C> {
    fn default() -> Self {
        SharedConnection {
            slot: RefCell::new(None),
        }
    }
}

impl<C> SharedConnection<C> {
    /// An empty slot, ready to be kept in instance-local state.
    pub fn new() -> Rc<SharedConnection<C>> {
        Rc::new(SharedConnection::default())
    }

    /// Whether a connection is currently kept.
    pub fn is_open(&self) -> bool {
        self.slot.borrow().is_some()
    }

    fn get(&self) -> Option<Rc<C>> {
        self.slot.borrow().clone()
    }

    /// Keeps `conn` unless another request kept one meanwhile; returns the kept one.
    fn keep(&self, conn: Rc<C>) -> Rc<C> {
        let mut slot = self.slot.borrow_mut();
        match slot.as_ref() {
            Some(existing) => Rc::clone(existing),
            None => {
                *slot = Some(Rc::clone(&conn));
                conn
            }
        }
    }

    /// Forgets `conn` if it is still the kept one.
    fn discard(&self, conn: &Rc<C>) {
        let mut slot = self.slot.borrow_mut();
        if slot.as_ref().is_some_and(|kept| Rc::ptr_eq(kept, conn)) {
            *slot = None;
        }
    }
}

/// The database as one request sees it.
pub struct Database<K: Connector> {
    connector: K,
    shared: Rc<SharedConnection<K::Conn>>,
    timeout: Duration,
    statements: Cell<u32>,
}

impl<K: Connector> Database<K> {
    /// `shared` is the instance's kept connection; `timeout` bounds each call.
    pub fn new(connector: K, shared: Rc<SharedConnection<K::Conn>>, timeout: Duration) -> Self {
        Database {
            connector,
            shared,
            timeout,
            statements: Cell::new(0),
        }
    }

    /// The connector this request was given.
    pub fn connector(&self) -> &K {
        &self.connector
    }

    /// How many statements this request has sent (BEGIN, COMMIT, ROLLBACK and retries
    /// included).
    pub fn statements_sent(&self) -> u32 {
        self.statements.get()
    }

    /// The bound on each database call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Races `work` against the timeout; a late answer becomes `Unavailable(Timeout)`.
    pub async fn within_timeout<T>(
        &self,
        work: impl Future<Output = Result<T, DbError>>,
    ) -> Result<T, DbError> {
        let work = std::pin::pin!(work);
        let timer = std::pin::pin!(self.connector.sleep(self.timeout));
        match select(work, timer).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => Err(DbError::Unavailable(Unavailable::Timeout)),
        }
    }

    /// One statement: counted, bounded, its error classified.
    async fn call<T>(&self, work: impl Future<Output = Result<T, PgError>>) -> Result<T, DbError> {
        self.statements.set(self.statements.get().saturating_add(1));
        self.within_timeout(async { work.await.map_err(|e| classify(&e)) })
            .await
    }

    /// Forgets the instance's shared connection, so the next statement opens a fresh one.
    /// For callers that bound several statements together with [`Self::within_timeout`]:
    /// when that outer bound fires, the connection may be stuck.
    pub fn discard_shared(&self) {
        if let Some(conn) = self.shared.get() {
            self.shared.discard(&conn);
        }
    }

    /// Takes a connection of its own from the host's pool.
    async fn open(&self) -> Result<K::Conn, DbError> {
        let opened = self
            .within_timeout(async {
                self.connector.open().await.map_err(|e| {
                    log::warn(
                        "database_connection_failed",
                        json!({ "error_kind": "connection_failed", "detail": host_detail(&e) }),
                    );
                    classify(&e)
                })
            })
            .await;
        if let Err(DbError::Unavailable(Unavailable::Timeout)) = opened {
            log::warn(
                "database_connection_failed",
                json!({ "error_kind": "timeout", "timeout_ms": self.timeout.as_millis() as u64 }),
            );
        }
        opened
    }

    /// The instance's shared connection, opened on first use.
    async fn shared(&self) -> Result<Rc<K::Conn>, DbError> {
        if let Some(conn) = self.shared.get() {
            return Ok(conn);
        }
        let conn = Rc::new(self.open().await?);
        Ok(self.shared.keep(conn))
    }

    /// Runs `op` on the shared connection; discards the connection after a connection
    /// error or a timeout, and retries once on a fresh connection when `retry` is set.
    async fn on_shared<T, F, Fut>(&self, retry: bool, op: F) -> Result<T, DbError>
    where
        F: Fn(Rc<K::Conn>) -> Fut,
        Fut: Future<Output = Result<T, PgError>>,
    {
        let conn = self.shared().await?;
        match self.call(op(Rc::clone(&conn))).await {
            Err(error) if error.is_connection_error() => {
                self.shared.discard(&conn);
                drop(conn);
                let can_retry = retry && error != DbError::Unavailable(Unavailable::Timeout);
                log::warn(
                    "database_connection_discarded",
                    json!({ "error_kind": error.kind(), "retry": can_retry }),
                );
                if !can_retry {
                    return Err(error);
                }
                let fresh = self.shared().await?;
                let result = self.call(op(Rc::clone(&fresh))).await;
                if result.as_ref().is_err_and(DbError::is_connection_error) {
                    self.shared.discard(&fresh);
                }
                result
            }
            other => other,
        }
    }

    /// Runs `work` in a transaction on a dedicated connection.
    ///
    /// Ends with COMMIT when `work` returns `Ok`, with ROLLBACK when it returns `Err` (or
    /// when COMMIT fails). If neither can be sent, the connection is abandoned, never
    /// returned to the pool inside the transaction.
    pub async fn transaction<T, E>(
        &self,
        work: impl AsyncFnOnce(&Transaction<'_, K>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let mut guard = OpenTransaction {
            conn: Some(self.open().await?),
        };
        let Some(conn) = guard.conn.as_ref() else {
            return Err(DbError::Client { kind: "other" }.into());
        };
        let tx = Transaction { db: self, conn };
        let result = match self.call(conn.execute("BEGIN", &[])).await {
            Ok(_) => work(&tx).await,
            Err(error) => Err(error.into()),
        };
        let ended = match &result {
            Ok(_) => match self.call(conn.execute("COMMIT", &[])).await {
                Ok(_) => Ok(()),
                Err(commit_error) => {
                    // The server has ended a transaction whose COMMIT failed; ROLLBACK makes
                    // sure of it (a warning only, if nothing is open) and tells us the
                    // connection still works.
                    let rolled_back = self.call(conn.execute("ROLLBACK", &[])).await.is_ok();
                    Err((commit_error, rolled_back))
                }
            },
            Err(_) => match self.call(conn.execute("ROLLBACK", &[])).await {
                Ok(_) => Ok(()),
                Err(rollback_error) => Err((rollback_error, false)),
            },
        };
        match ended {
            Ok(()) => {
                guard.release();
                result
            }
            Err((error, rolled_back)) => {
                log::warn(
                    "database_transaction_end_failed",
                    json!({ "error_kind": error.kind(), "rolled_back": rolled_back }),
                );
                if rolled_back {
                    guard.release();
                }
                match result {
                    Ok(_) => Err(error.into()),
                    Err(original) => Err(original),
                }
            }
        }
    }
}

impl<K: Connector> Db for Database<K> {
    async fn read(&self, sql: &str, params: &[ParameterValue]) -> Result<Vec<Row>, DbError> {
        self.on_shared(true, |conn| async move { conn.query(sql, params).await })
            .await
    }

    async fn write(&self, sql: &str, params: &[ParameterValue]) -> Result<Vec<Row>, DbError> {
        self.on_shared(false, |conn| async move { conn.query(sql, params).await })
            .await
    }

    async fn execute(&self, sql: &str, params: &[ParameterValue]) -> Result<u64, DbError> {
        self.on_shared(false, |conn| async move { conn.execute(sql, params).await })
            .await
    }
}

/// Statements inside a transaction, on its dedicated connection.
pub struct Transaction<'a, K: Connector> {
    db: &'a Database<K>,
    conn: &'a K::Conn,
}

impl<K: Connector> Db for Transaction<'_, K> {
    async fn read(&self, sql: &str, params: &[ParameterValue]) -> Result<Vec<Row>, DbError> {
        self.db.call(self.conn.query(sql, params)).await
    }

    async fn write(&self, sql: &str, params: &[ParameterValue]) -> Result<Vec<Row>, DbError> {
        self.db.call(self.conn.query(sql, params)).await
    }

    async fn execute(&self, sql: &str, params: &[ParameterValue]) -> Result<u64, DbError> {
        self.db.call(self.conn.execute(sql, params)).await
    }
}

/// Holds a transaction's connection; abandons it if dropped before the transaction ended
/// (an early return, or the request's future being dropped mid-transaction).
struct OpenTransaction<C: Connection> {
    conn: Option<C>,
}

impl<C: Connection> OpenTransaction<C> {
    /// The transaction ended: the connection may go back to the pool.
    fn release(&mut self) {
        self.conn.take();
    }
}

impl<C: Connection> Drop for OpenTransaction<C> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            log::warn("database_transaction_abandoned", json!({}));
            conn.abandon();
        }
    }
}

fn classify(error: &PgError) -> DbError {
    DbError::from_host(error)
}

/// The host's text for a connection failure, with credentials removed.
///
/// Only the first line, at most [`HOST_DETAIL_CHARS`] characters: Spin's text goes on with a
/// backtrace of the host (about 1.5 KB a line, measured under Spin 4.0.2).
fn host_detail(error: &PgError) -> String {
    match error {
        PgError::ConnectionFailed(text) | PgError::Other(text) => first_line(&redact(text)),
        _ => String::new(),
    }
}

/// The most of a host error's text a log line carries.
const HOST_DETAIL_CHARS: usize = 200;

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    line.chars().take(HOST_DETAIL_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_detail_keeps_one_redacted_line() {
        let error = PgError::ConnectionFailed(
            "error connecting to postgres://u:s3cret@db/k: Connection refused (os error 111)\n\n\
             Stack backtrace:\n   0: spin_factor_outbound_pg::client::..."
                .into(),
        );
        let detail = host_detail(&error);
        assert!(detail.contains("Connection refused"), "{detail}");
        assert!(
            !detail.contains("s3cret") && !detail.contains("backtrace"),
            "{detail}"
        );
        let long = PgError::Other("x".repeat(1000));
        assert_eq!(host_detail(&long).chars().count(), HOST_DETAIL_CHARS);
    }
}
