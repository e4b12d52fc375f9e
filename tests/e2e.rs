//! End-to-end tests under a real `spin up`. They need the `spin` binary (Spin 4), which is not
//! installable on the development machines, so they are ignored by default and run by
//! `make e2e` where spin exists.
//!
//! Each test starts its own PostgreSQL (scripts/pg.sh, in a temporary directory) and its own
//! `spin up` in a process group of its own, and stops both (the whole group: `spin up` runs
//! `spin trigger http` as a child that holds the port).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "e2e-token-0123456789";
const DB_TIMEOUT_MS: u64 = 1000;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A PostgreSQL server of the test's own.
struct Postgres {
    dir: PathBuf,
    port: u16,
}

impl Postgres {
    fn start() -> Postgres {
        let out = Command::new("mktemp")
            .args(["-d", "/tmp/keemu-e2e-pg.XXXXXX"])
            .output()
            .expect("mktemp");
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        Command::new("chmod")
            .arg("755")
            .arg(&dir)
            .status()
            .expect("chmod");
        let pg = Postgres {
            dir,
            port: free_port(),
        };
        pg.up();
        let status = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &pg.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-c", "CREATE DATABASE keemu"])
            .status()
            .expect("psql");
        assert!(status.success());
        pg
    }

    fn up(&self) {
        let status = Command::new(repo().join("scripts/pg.sh"))
            .arg("start")
            .arg(&self.dir)
            .arg(self.port.to_string())
            .status()
            .expect("pg.sh start");
        assert!(status.success(), "PostgreSQL started");
    }

    fn down(&self) {
        let status = Command::new(repo().join("scripts/pg.sh"))
            .arg("stop")
            .arg(&self.dir)
            .status()
            .expect("pg.sh stop");
        assert!(status.success(), "PostgreSQL stopped");
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/keemu?sslmode=disable&connect_timeout=2",
            self.port
        )
    }

    fn psql(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", "keemu", "-At", "-c", sql])
            .output()
            .expect("psql");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/pg.sh"))
            .arg("stop")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `spin up` in a process group of its own.
struct Spin {
    child: Child,
    port: u16,
}

impl Spin {
    fn start(pg: &Postgres) -> Spin {
        let port = free_port();
        let child = Command::new("spin")
            .current_dir(repo())
            .args(["up", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--runtime-config-file", "runtime-config.toml"])
            .args(["--variable", &format!("database_url={}", pg.url())])
            .args(["--variable", &format!("db_host=127.0.0.1:{}", pg.port)])
            .args(["--variable", &format!("api_token={TOKEN}")])
            .args(["--variable", &format!("db_timeout_ms={DB_TIMEOUT_MS}")])
            .args(["--variable", "environment=e2e"])
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spin up (is Spin 4 installed? https://spinframework.dev/install)");
        let spin = Spin { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if spin
                .get("/health/live")
                .is_some_and(|(status, _)| status == 200)
            {
                return spin;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("spin up did not answer /health/live within 60 s");
    }

    fn request(&self, method: &str, path: &str, body: Option<&str>) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .ok()?;
        let body = body.unwrap_or("");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let status = response.split(' ').nth(1)?.parse().ok()?;
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
        Some((status, body))
    }

    fn get(&self, path: &str) -> Option<(u16, String)> {
        self.request("GET", path, None)
    }
}

impl Drop for Spin {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        std::thread::sleep(Duration::from_millis(500));
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn migrate(pg: &Postgres) {
    let status = Command::new(env!("CARGO"))
        .current_dir(repo())
        .args([
            "run",
            "-q",
            "-p",
            "keemu-pg-native",
            "--bin",
            "keemu-migrate",
        ])
        .env("DATABASE_URL", pg.url())
        .status()
        .expect("keemu-migrate");
    assert!(status.success(), "migrations applied");
}

fn built(path: &Path) -> bool {
    path.exists()
}

#[test]
#[ignore = "needs the spin binary (Spin 4) and built components: run with `make e2e`"]
fn health_follows_the_database_without_restarting_spin() {
    assert!(
        built(&repo().join("target/wasm32-wasip2/release/keemu_health.wasm")),
        "build the components first (make e2e does)"
    );
    let pg = Postgres::start();
    migrate(&pg);
    let spin = Spin::start(&pg);

    let (status, body) = spin.get("/health").expect("answer");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"healthy\""), "{body}");
    assert!(body.contains("\"environment\":\"e2e\""), "{body}");

    pg.down();
    let started = Instant::now();
    let (status, body) = spin.get("/health").expect("answer");
    let took = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"status\":\"unhealthy\""), "{body}");
    assert!(
        took < Duration::from_millis(DB_TIMEOUT_MS * 3),
        "503 within the bound, took {took:?}"
    );
    let (status, _) = spin.get("/api/v1/users").expect("answer");
    assert_eq!(status, 503);

    pg.up();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = (0, String::new());
    while Instant::now() < deadline {
        last = spin.get("/health").expect("answer");
        if last.0 == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(last.0, 200, "recovered without restarting spin: {}", last.1);
}

#[test]
#[ignore = "needs the spin binary (Spin 4) and built components: run with `make e2e`"]
fn users_api_round_trip_leaves_no_open_transaction() {
    let pg = Postgres::start();
    migrate(&pg);
    let spin = Spin::start(&pg);

    let (status, body) = spin
        .request(
            "POST",
            "/api/v1/users",
            Some(r#"{"email":"E2E@Example.com","name":"End To End","timezone":"Europe/Paris"}"#),
        )
        .expect("answer");
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("\"email\":\"e2e@example.com\""), "{body}");
    assert!(body.contains("\"update_frequency\":\"weekly\""), "{body}");

    let (status, body) = spin
        .get("/api/v1/users?email=e2e%40example.com")
        .expect("answer");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("End To End"), "{body}");

    let (status, _) = spin
        .request(
            "POST",
            "/api/v1/users",
            Some(r#"{"email":"e2e@EXAMPLE.com","name":"Again"}"#),
        )
        .expect("answer");
    assert_eq!(status, 409);

    let (status, _) = spin.get("/api/v1/users/abc").expect("answer");
    assert_eq!(status, 404);

    let idle_in_tx =
        pg.psql("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'");
    assert_eq!(idle_in_tx, "0");
}
