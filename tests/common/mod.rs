//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod api;
pub mod feeds;
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

/// A TCP proxy in front of the test server that can go down (its port refuses connections
/// and every connection through it is cut, as when PostgreSQL stops) and come back on the
/// same port: a database restart, without stopping the server the other tests use.
pub struct Restartable {
    /// The test database's address, through the proxy.
    pub address: String,
    port: u16,
    target: std::net::SocketAddr,
    streams: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
    accepting: std::sync::Mutex<
        Option<(
            std::sync::Arc<std::sync::atomic::AtomicBool>,
            std::thread::JoinHandle<()>,
        )>,
    >,
}

impl Restartable {
    /// A proxy to the server of `address` (key=value or URL form), up.
    pub fn start(address: &str) -> Restartable {
        let config: tokio_postgres::Config = address.parse().expect("address");
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            other => panic!("a TCP host: {other:?}"),
        };
        let target_port = config.get_ports().first().copied().unwrap_or(5432);
        let target = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), target_port))
            .expect("resolve")
            .next()
            .expect("an address");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let address = format!(
            "host=127.0.0.1 port={port} user={} dbname={} connect_timeout=2",
            config.get_user().unwrap_or("postgres"),
            config.get_dbname().unwrap_or("postgres"),
        );
        let proxy = Restartable {
            address,
            port,
            target,
            streams: Default::default(),
            accepting: std::sync::Mutex::new(None),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: std::net::TcpListener) {
        use std::sync::atomic::{AtomicBool, Ordering};
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (target, streams, stopping) = (self.target, self.streams.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((client, _)) => client,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                };
                let _ = client.set_nonblocking(false);
                let Ok(server) = std::net::TcpStream::connect(target) else {
                    continue;
                };
                let pipes = [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ];
                {
                    let mut kept = streams.lock().expect("streams");
                    kept.push(client);
                    kept.push(server);
                }
                for pipe in pipes {
                    if let (Ok(mut from), Ok(mut to)) = pipe {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Both);
                        });
                    }
                }
            }
        });
        *self.accepting.lock().expect("accepting") = Some((stop, thread));
    }

    /// The database goes away: the port refuses connections, open ones are cut.
    pub fn down(&self) {
        if let Some((stop, thread)) = self.accepting.lock().expect("accepting").take() {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = thread.join();
        }
        for stream in self.streams.lock().expect("streams").drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// The database is back, on the same port.
    pub fn up(&self) {
        let listener =
            std::net::TcpListener::bind(("127.0.0.1", self.port)).expect("bind the same port");
        self.serve(listener);
    }
}

impl Drop for Restartable {
    fn drop(&mut self) {
        self.down();
    }
}
