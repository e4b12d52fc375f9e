//! What both Spin components share: the database adapter over `spin_sdk::pg`, the
//! instance's shared connection, configuration from Spin variables, and the conversion
//! between Spin's request/response and the core's [`keemu::http::Request`]/[`Response`],
//! and the outbound HTTP transport ([`SpinOutbound`], the core's [`keemu::outbound::Outbound`]),
//! and the digest overview model ([`SpinOverviewer`], over `spin_sdk::llm`).
//!
//! Everything that decides behaviour lives in the `keemu` crate; this crate only talks to
//! the host.

use std::cell::OnceCell;
use std::rc::Rc;
use std::thread::LocalKey;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use keemu::db::address::{with_connect_timeout, with_server_timeouts};
use keemu::db::deadlines::Deadlines;
use keemu::db::{Connection, Connector, Database, Row, SharedConnection};
use keemu::http::config::millis;
use keemu::http::served::served;
use keemu::http::{ApiError, MAX_BODY_BYTES, Request, Response};
use spin_sdk::pg::{self, ParameterValue, PgError};

pub mod outbound;
pub mod overview;

pub use outbound::SpinOutbound;
pub use overview::SpinOverviewer;

/// The database timeout when `db_timeout_ms` is unset or invalid.
pub const DEFAULT_DB_TIMEOUT_MS: u64 = 2000;

/// Opens connections through Spin's outbound PostgreSQL interface. One per request: it holds
/// the deadlines of that request's database calls.
pub struct SpinConnector {
    address: Rc<str>,
    deadlines: Rc<Deadlines>,
}

impl SpinConnector {
    pub fn new(address: Rc<str>) -> SpinConnector {
        SpinConnector {
            address,
            deadlines: Deadlines::new(start_watcher),
        }
    }
}

impl Connector for SpinConnector {
    type Conn = SpinConnection;

    async fn open(&self) -> Result<SpinConnection, PgError> {
        pg::Connection::open(&*self.address)
            .await
            .map(SpinConnection)
            .map_err(host_error)
    }

    /// Completes `duration` from now, seen by the request's deadline watcher
    /// ([`keemu::db::deadlines`]) rather than by a host timer per call.
    async fn sleep(&self, duration: Duration) {
        self.deadlines.after(duration).await;
    }
}

/// A connection from Spin's pool.
pub struct SpinConnection(pg::Connection);

impl Connection for SpinConnection {
    async fn query(&self, sql: &str, params: &[ParameterValue]) -> Result<Vec<Row>, PgError> {
        let mut result = self
            .0
            .query(sql, params.to_vec())
            .await
            .map_err(host_error)?;
        let columns: Rc<[String]> = result.columns().iter().map(|c| c.name.clone()).collect();
        let mut rows = Vec::new();
        while let Some(values) = result.rows().next().await {
            rows.push(Row::new(Rc::clone(&columns), values));
        }
        result.result().await.map_err(host_error)?;
        Ok(rows)
    }

    async fn execute(&self, sql: &str, params: &[ParameterValue]) -> Result<u64, PgError> {
        self.0
            .execute(sql, params.to_vec())
            .await
            .map_err(host_error)
    }

    fn abandon(self) {
        // The host pool would take this connection back inside its transaction; send the
        // ROLLBACK from a task of its own, which outlives the request that dropped it.
        spin_sdk::wasip3::spawn(async move {
            let _ = self
                .0
                .execute("ROLLBACK", Vec::<ParameterValue>::new())
                .await;
        });
    }
}

fn host_error(error: pg::Error) -> PgError {
    match error {
        pg::Error::PgError(e) => e,
        pg::Error::Decode(message) => PgError::ValueConversionFailed(message),
    }
}

/// Runs a request's deadline watcher in the background, in that request's task (the call
/// that starts it is polled there), so it only ever wakes calls of its own task. It is never
/// cancelled: when the request ends first, its host timer runs out in the background (or goes
/// with the instance), because cancelling a pending host call makes the guest wait for the
/// host (see [`keemu::db::deadlines`]).
fn start_watcher(deadlines: Rc<Deadlines>) {
    spin_sdk::wasip3::spawn(deadlines.watch(spin_sdk::time::sleep));
}

thread_local! {
    /// The connection this component instance shares between its requests.
    static SHARED: Rc<SharedConnection<SpinConnection>> = SharedConnection::new();
    /// The database settings, read from Spin variables by the instance's first request.
    static DB_SETTINGS: OnceCell<Rc<DbSettings>> = const { OnceCell::new() };
}

/// A value computed once per component instance, by its first request, and shared by the
/// requests after it. For settings read from Spin variables: they do not change while an
/// instance lives, and each read is a host call. Concurrent first requests may each
/// compute it; the first to finish is kept.
pub async fn once_per_instance<T: 'static>(
    cell: &'static LocalKey<OnceCell<Rc<T>>>,
    init: impl AsyncFnOnce() -> T,
) -> Rc<T> {
    if let Some(value) = cell.with(|c| c.get().cloned()) {
        return value;
    }
    let value = Rc::new(init().await);
    cell.with(|c| Rc::clone(c.get_or_init(|| value)))
}

/// Where the components' database is and how long a call may take.
struct DbSettings {
    /// `database_url` with `connect_timeout` and the server-side timeouts added.
    address: Rc<str>,
    timeout: Duration,
}

async fn read_db_settings() -> DbSettings {
    let timeout = db_timeout().await;
    let address = variable("database_url").await.unwrap_or_default();
    let timeout_ms = timeout.as_millis() as u64;
    let address = with_server_timeouts(&with_connect_timeout(&address, timeout_ms), timeout_ms);
    DbSettings {
        address: Rc::from(address),
        timeout,
    }
}

/// Reads a Spin variable, without surrounding whitespace (a value from a secret file
/// usually ends in a newline); `None` when unset or blank.
pub async fn variable(name: &str) -> Option<String> {
    spin_sdk::variables::get(name)
        .await
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `db_timeout_ms` as a duration (1 ms to 60 s; the default otherwise).
pub async fn db_timeout() -> Duration {
    millis(variable("db_timeout_ms").await.as_deref(), 60_000)
        .unwrap_or(Duration::from_millis(DEFAULT_DB_TIMEOUT_MS))
}

/// The request's database: the instance's shared connection (opened on first use) and
/// dedicated connections for transactions, all bounded by `db_timeout_ms`, and on the
/// server by `statement_timeout`/`lock_timeout` a little under it.
/// Settings are read once per instance ([`once_per_instance`]).
pub async fn database() -> Database<SpinConnector> {
    let settings = once_per_instance(&DB_SETTINGS, read_db_settings).await;
    Database::new(
        SpinConnector::new(Rc::clone(&settings.address)),
        SHARED.with(Rc::clone),
        settings.timeout,
    )
}

/// Spin's request with its body read: at most `MAX_BODY_BYTES + 1` bytes are kept, so a
/// larger body is recognised (413) without being held in memory. `None` if the body could
/// not be read. GET and HEAD bodies are not read (they mean nothing to any route).
pub async fn read_request(request: spin_sdk::http::Request) -> Option<Request> {
    let (parts, mut body) = request.into_parts();
    let mut buffer = Vec::new();
    // No handler reads the body of a GET or HEAD, and reading even an empty body is a host
    // stream read per request.
    if matches!(parts.method, http::Method::GET | http::Method::HEAD) {
        return Some(http::Request::from_parts(parts, Bytes::new()));
    }
    while let Some(frame) = body.frame().await {
        let frame = frame.ok()?;
        if let Ok(data) = frame.into_data() {
            let room = MAX_BODY_BYTES + 1 - buffer.len();
            buffer.extend_from_slice(&data[..data.len().min(room)]);
            if buffer.len() > MAX_BODY_BYTES {
                break;
            }
        }
    }
    Some(http::Request::from_parts(parts, Bytes::from(buffer)))
}

/// Serves one request: reads Spin's request (400 if its body cannot be read), runs
/// `handler` with the request's time ([`served`]: the clock is read there, once at each
/// end), and the `request_completed` log line, and returns Spin's response.
pub async fn serve(
    request: spin_sdk::http::Request,
    handler: impl AsyncFnOnce(Request, chrono::DateTime<chrono::Utc>) -> Response,
) -> http::Response<Full<Bytes>> {
    let response = match read_request(request).await {
        Some(request) => served(request, handler).await,
        None => ApiError::BadRequest("the request body could not be read").into_response(),
    };
    into_spin_response(response)
}

/// The core's response as Spin's.
pub fn into_spin_response(response: Response) -> http::Response<Full<Bytes>> {
    response.map(|body| Full::new(Bytes::from(body)))
}
