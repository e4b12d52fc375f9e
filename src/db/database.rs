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
//!   fresh one. Within the call's timeout, a read is retried with backoff after a lost
//!   connection or a failed open; a write only after a failed open (nothing was sent: the
//!   host's error for a closed connection does not tell whether a statement reached the
//!   server). A write that failed after it was sent ends in [`DbError::OutcomeUnknown`].
//! - A transaction ([`Database::transaction`]) takes a connection of its own and always ends
//!   with COMMIT or ROLLBACK, on error paths too; a transaction that could not be ended is
//!   handed to [`Connection::abandon`] so it never goes back to the pool open.
//! - Every call is raced against the configured timeout: the host pool has no wait timeout
//!   and a hung server must not hang the request. A timer that fires is not a timeout by
//!   itself: the call is looked at again first, and gets back the time it lost when the
//!   instance was busy past its deadline ([`Database::within_timeout`]).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

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
    /// A statement that writes and returns rows (`... RETURNING`). Retried only when it
    /// was never sent.
    async fn write(&self, sql: &str, params: &[ParameterValue]) -> Result<Vec<Row>, DbError>;
    /// A statement that writes and returns the number of rows affected. Retried only when
    /// it was never sent.
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

/// The first wait between two attempts of a call; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(25);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(200);
/// How many times a call whose deadline passed lets the executor deliver what has arrived
/// (host events, socket data) and looks at the call again before calling it a timeout.
const SETTLE_YIELDS: usize = 8;
/// A deadline's timer that wakes this much after it, or more, found the instance busy (an
/// idle instance wakes it within a few milliseconds).
const BUSY_LATENESS: Duration = Duration::from_millis(10);
/// How long a call whose deadline passed on time is given once more, to tell a slow
/// database from an instance that kept the call's earlier steps waiting.
const PROBE: Duration = Duration::from_millis(100);
/// How many times the timeout a call may get back, in all, for the time a busy instance
/// kept it from running...
const MAX_EXTENSIONS: u32 = 3;
/// ...and at least this long: how long a busy instance keeps a call from running depends on
/// the machine's load (24 hashes on 2 cores kept calls waiting 3 to 6 s), not on
/// `db_timeout_ms`, so a short timeout must not leave it less room.
const MIN_BUSY_ALLOWANCE: Duration = Duration::from_secs(5);

/// What a call does, for the retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Safe to send again.
    Read,
    /// Sent again only when it provably never reached the server.
    Write,
}

/// How one attempt failed.
enum Failed {
    /// Before the statement was sent (no connection could be opened): nothing reached the
    /// server.
    NotSent(DbError),
    /// The statement was sent (or may have been).
    Sent(DbError),
}

/// The database as one request sees it.
pub struct Database<K: Connector> {
    connector: K,
    shared: Rc<SharedConnection<K::Conn>>,
    timeout: Duration,
    statements: Cell<u32>,
    /// A call of this request already gave up on the database (after waiting for it):
    /// later calls make one attempt, so the request as a whole stays within about
    /// `db_timeout_ms` of waiting.
    gave_up: Cell<bool>,
}

impl<K: Connector> Database<K> {
    /// `shared` is the instance's kept connection; `timeout` bounds each call.
    pub fn new(connector: K, shared: Rc<SharedConnection<K::Conn>>, timeout: Duration) -> Self {
        Database {
            connector,
            shared,
            timeout,
            statements: Cell::new(0),
            gave_up: Cell::new(false),
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

    /// The moment `timeout` from now.
    fn deadline(&self) -> Instant {
        let now = Instant::now();
        now.checked_add(self.timeout).unwrap_or(now)
    }

    /// Races `work` against the timeout; a late answer becomes `Unavailable(Timeout)`. The
    /// timer firing is not enough: the call is looked at again first, and gets back the
    /// time it lost when the instance was busy past the deadline (`Database::until`).
    pub async fn within_timeout<T>(
        &self,
        work: impl Future<Output = Result<T, DbError>>,
    ) -> Result<T, DbError> {
        self.until(self.deadline(), self.timeout, work).await
    }

    /// Races `work` against a timer of `budget` (from now, ending at `until`).
    ///
    /// The timer firing is not enough to call it a timeout: the instance may have been busy
    /// (another request's CPU work; nothing of the instance runs meanwhile) while the
    /// answer arrived or the host waited to take the statement's next step, so that the
    /// timer and the answer are both there when it is free again, and the timer is seen
    /// first. So when the timer fires, the call is looked at again after letting the
    /// executor deliver what has arrived ([`settle`]); and while the timer's wakeup comes
    /// late (by [`BUSY_LATENESS`] or more after the deadline: the instance was busy), the
    /// call gets the time it lost again, up to [`MAX_EXTENSIONS`] times `timeout` (at least
    /// [`MIN_BUSY_ALLOWANCE`]) in all.
    /// A timer that wakes on time gives the call one [`PROBE`] more (the instance may be
    /// free now and have kept the call's earlier steps waiting); a second timer on time
    /// ends it. A database that does not answer gives `Timeout` at `until` + [`PROBE`] on
    /// an instance that is not kept busy; at worst the timeout plus that allowance (and the
    /// last wakeup's lateness) on one that is.
    async fn until<T>(
        &self,
        until: Instant,
        budget: Duration,
        work: impl Future<Output = Result<T, DbError>>,
    ) -> Result<T, DbError> {
        let mut work = std::pin::pin!(work);
        let mut budget = budget;
        let mut until = until;
        let mut extended = Duration::ZERO;
        let mut probed = false;
        let most = self
            .timeout
            .saturating_mul(MAX_EXTENSIONS)
            .max(MIN_BUSY_ALLOWANCE);
        loop {
            {
                let timer = std::pin::pin!(self.connector.sleep(budget));
                if let Either::Left((result, _)) = select(work.as_mut(), timer).await {
                    return result;
                }
            }
            if let Some(result) = settle(work.as_mut()).await {
                return result;
            }
            let now = Instant::now();
            let late = now.saturating_duration_since(until);
            let left = most.saturating_sub(extended);
            if left.is_zero() || (late < BUSY_LATENESS && probed) {
                return Err(DbError::Unavailable(Unavailable::Timeout));
            }
            budget = if late < BUSY_LATENESS {
                // On time: the instance is free now, but may have kept the call's earlier
                // steps waiting. A short probe tells: if its timer too wakes on time with
                // nothing arrived, the database is slow.
                probed = true;
                PROBE.min(self.timeout)
            } else {
                // All the time it lost: an answer that arrives meanwhile still ends the wait
                // at once; only the verdict of a timeout waits.
                late
            }
            .min(left);
            extended += budget;
            until = now.checked_add(budget).unwrap_or(now);
        }
    }

    /// One statement: counted, bounded by `budget` (ending at `until`), its error
    /// classified.
    async fn call_until<T>(
        &self,
        until: Instant,
        budget: Duration,
        work: impl Future<Output = Result<T, PgError>>,
    ) -> Result<T, DbError> {
        self.statements.set(self.statements.get().saturating_add(1));
        self.until(until, budget, async {
            work.await.map_err(|e| classify(&e))
        })
        .await
    }

    /// One statement: counted, bounded by the timeout, its error classified.
    async fn call<T>(&self, work: impl Future<Output = Result<T, PgError>>) -> Result<T, DbError> {
        self.call_until(self.deadline(), self.timeout, work).await
    }

    /// Forgets the instance's shared connection, so the next statement opens a fresh one.
    /// For callers that bound several statements together with [`Self::within_timeout`]:
    /// when that outer bound fires, the connection may be stuck.
    pub fn discard_shared(&self) {
        if let Some(conn) = self.shared.get() {
            self.shared.discard(&conn);
        }
    }

    /// Takes a connection of its own from the host's pool, within `budget`. `log`: whether
    /// a failure is logged (the first of a call is; the retries after it are not).
    async fn open(&self, until: Instant, budget: Duration, log: bool) -> Result<K::Conn, DbError> {
        let opened = self
            .until(until, budget, async {
                self.connector.open().await.map_err(|e| {
                    if log {
                        log::warn(
                            "database_connection_failed",
                            json!({ "error_kind": "connection_failed", "detail": host_detail(&e) }),
                        );
                    }
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

    /// Runs `attempt` (given the call's deadline and the time left) until it succeeds, or
    /// fails in a way that must not be retried, or the call's `timeout` has passed. Retried,
    /// after a wait of 25, 50, 100, 200, 200, ... ms: a failure before anything was sent
    /// (no connection could be opened: the database is down or restarting), and for a
    /// [`Kind::Read`] also a connection lost under the statement. A write whose connection
    /// failed after it was sent may have been applied: it ends with
    /// [`DbError::OutcomeUnknown`], never sent again.
    async fn retrying<T>(
        &self,
        kind: Kind,
        attempt: impl AsyncFn(Instant, Duration, bool) -> Result<T, Failed>,
    ) -> Result<T, DbError> {
        let until = self.deadline();
        let mut budget = self.timeout;
        let mut backoff = FIRST_BACKOFF;
        let mut attempts: u32 = 0;
        loop {
            attempts += 1;
            let failed = match attempt(until, budget, attempts == 1).await {
                Ok(value) => return Ok(value),
                Err(failed) => failed,
            };
            let (error, retry) = match failed {
                Failed::NotSent(error) => {
                    let retry = error == DbError::Unavailable(Unavailable::ConnectionFailed);
                    (error, retry)
                }
                Failed::Sent(DbError::Unavailable(reason)) if kind == Kind::Write => {
                    (DbError::OutcomeUnknown(reason), false)
                }
                Failed::Sent(error) => {
                    let retry = kind == Kind::Read
                        && error == DbError::Unavailable(Unavailable::ConnectionLost);
                    (error, retry)
                }
            };
            let left = until.saturating_duration_since(Instant::now());
            if !retry || self.gave_up.get() || left.is_zero() {
                if error.is_connection_error() {
                    self.gave_up.set(true);
                    if attempts > 1 {
                        log::warn(
                            "database_unavailable",
                            json!({ "error_kind": error.kind(), "attempts": attempts }),
                        );
                    }
                }
                return Err(error);
            }
            self.connector.sleep(backoff.min(left)).await;
            backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
            budget = until.saturating_duration_since(Instant::now());
            if budget.is_zero() {
                self.gave_up.set(true);
                log::warn(
                    "database_unavailable",
                    json!({ "error_kind": error.kind(), "attempts": attempts }),
                );
                return Err(error);
            }
        }
    }

    /// One attempt on the shared connection (opened first if none is kept): discards the
    /// connection after a connection error or a timeout.
    async fn attempt_on_shared<T, F, Fut>(
        &self,
        until: Instant,
        budget: Duration,
        first: bool,
        op: &F,
    ) -> Result<T, Failed>
    where
        F: Fn(Rc<K::Conn>) -> Fut,
        Fut: Future<Output = Result<T, PgError>>,
    {
        let mut budget = budget;
        let conn = match self.shared.get() {
            Some(conn) => conn,
            None => {
                let opened = self
                    .open(until, budget, first)
                    .await
                    .map_err(Failed::NotSent)?;
                budget = until.saturating_duration_since(Instant::now());
                self.shared.keep(Rc::new(opened))
            }
        };
        match self.call_until(until, budget, op(Rc::clone(&conn))).await {
            Err(error) if error.is_connection_error() => {
                self.shared.discard(&conn);
                log::warn(
                    "database_connection_discarded",
                    json!({ "error_kind": error.kind() }),
                );
                Err(Failed::Sent(error))
            }
            other => other.map_err(Failed::Sent),
        }
    }

    /// Runs `op` on the shared connection, with the retries of [`Self::retrying`].
    async fn on_shared<T, F, Fut>(&self, kind: Kind, op: F) -> Result<T, DbError>
    where
        F: Fn(Rc<K::Conn>) -> Fut,
        Fut: Future<Output = Result<T, PgError>>,
    {
        let op = &op;
        self.retrying(kind, async |until, budget, first| {
            self.attempt_on_shared(until, budget, first, op).await
        })
        .await
    }

    /// Runs `work` in a transaction on a dedicated connection.
    ///
    /// Opening the connection is retried like a read (nothing was sent). Ends with COMMIT
    /// when `work` returns `Ok`, with ROLLBACK when it returns `Err` (or when COMMIT fails).
    /// If neither can be sent, the connection is abandoned, never returned to the pool
    /// inside the transaction. A COMMIT whose connection failed (lost, or no answer in
    /// time) may have been applied: [`DbError::OutcomeUnknown`].
    pub async fn transaction<T, E>(
        &self,
        work: impl AsyncFnOnce(&Transaction<'_, K>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let opened = self
            .retrying(Kind::Write, async |until, budget, first| {
                self.open(until, budget, first)
                    .await
                    .map_err(Failed::NotSent)
            })
            .await?;
        let mut guard = OpenTransaction { conn: Some(opened) };
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
                Err(DbError::Unavailable(reason)) => {
                    // Sent, and no answer: committed or not, nobody can tell.
                    Err((DbError::OutcomeUnknown(reason), false))
                }
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
        self.on_shared(
            Kind::Read,
            |conn| async move { conn.query(sql, params).await },
        )
        .await
    }

    async fn write(&self, sql: &str, params: &[ParameterValue]) -> Result<Vec<Row>, DbError> {
        self.on_shared(
            Kind::Write,
            |conn| async move { conn.query(sql, params).await },
        )
        .await
    }

    async fn execute(&self, sql: &str, params: &[ParameterValue]) -> Result<u64, DbError> {
        self.on_shared(Kind::Write, |conn| async move {
            conn.execute(sql, params).await
        })
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

/// Looks at `work` again after letting the executor run, up to [`SETTLE_YIELDS`] times:
/// under Spin a yield makes `wit-bindgen` deliver the host's pending events to the task
/// (one per poll, or none and back to the host), natively it lets the connection's task
/// read what the socket holds. `Some` as soon as `work` is ready.
async fn settle<F: Future>(mut work: Pin<&mut F>) -> Option<F::Output> {
    for _ in 0..SETTLE_YIELDS {
        YieldOnce(false).await;
        let polled = std::future::poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx))).await;
        if let Poll::Ready(output) = polled {
            return Some(output);
        }
    }
    None
}

/// Pending once (waking itself at once), then ready.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
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
