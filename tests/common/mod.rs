//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod api;
pub mod openapi;
pub mod plan;

use std::rc::Rc;
use std::time::Duration;

use keemu::db::{Database, SharedConnection};
use keemu::http::Request;
use keemu_pg_native::{NativeConnection, NativeConnector};

pub use keemu_pg_native::testing::TestDatabase;

/// The timeout used by tests that do not test timeouts.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A component instance: its connector (the host's pool) and its shared connection.
pub struct Instance {
    pub connector: NativeConnector,
    pub shared: Rc<SharedConnection<NativeConnection>>,
    pub timeout: Duration,
}

impl Instance {
    pub fn new(connector: NativeConnector) -> Instance {
        Instance {
            connector,
            shared: SharedConnection::new(),
            timeout: TIMEOUT,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Instance {
        self.timeout = timeout;
        self
    }

    /// The database one request sees, with a statement log of its own.
    pub fn request_db(&self) -> Database<NativeConnector> {
        Database::new(
            self.connector.with_fresh_log(),
            Rc::clone(&self.shared),
            self.timeout,
        )
    }
}

/// A request without a body.
pub fn request(method: &str, path: &str) -> Request {
    http::Request::builder()
        .method(method)
        .uri(path)
        .body(bytes::Bytes::new())
        .expect("request")
}

/// The JSON body of a response.
pub fn json(response: &keemu::http::Response) -> serde_json::Value {
    serde_json::from_slice(response.body()).expect("JSON body")
}

/// An address where nothing listens (connection refused at once).
pub fn refused_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=2")
}

/// A server that accepts connections and never answers: a database that hangs.
pub async fn hanging_address() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("host=127.0.0.1 port={port} user=postgres dbname=postgres")
}

/// Runs `check` until every hash budget row it wrote was created and last counted in one
/// second of the database's `now()` (the budgets count per second, so a run across two
/// seconds proves nothing), at most five times. `reset` runs on `db` before each try.
pub async fn within_one_second<F, Fut>(db: &TestDatabase, reset: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let one_second = "SELECT count(DISTINCT window_start) \
        + count(*) FILTER (WHERE date_trunc('second', created_at) <> window_start) \
        FROM hash_budgets";
    for _ in 0..5 {
        let client = db.client().await;
        client.batch_execute(reset).await.expect("reset");
        let passed = check().await;
        let seconds: i64 = client
            .query_one(one_second, &[])
            .await
            .expect("budget rows")
            .get(0);
        if seconds == 1 {
            assert!(passed, "the budget check failed within one second");
            return;
        }
    }
    panic!("never ran within one second");
}
