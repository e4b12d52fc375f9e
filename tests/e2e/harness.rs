//! The processes an end-to-end run needs: a PostgreSQL server of its own (scripts/pg.sh in a
//! temporary directory) and `spin up` in a process group of its own, both stopped on drop.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::{Request, Response};

/// The bearer token the components are started with.
pub const TOKEN: &str = "e2e-token-0123456789";
/// `db_timeout_ms` given to the components.
pub const DB_TIMEOUT_MS: u64 = 1000;
/// The access-token key the api component is started with: `auth_keys` is
/// `AUTH_KID:base64(AUTH_SECRET)`, and `auth_signing_kid` names it.
pub const AUTH_KID: &str = "e2e1";
/// 32 bytes.
pub const AUTH_SECRET: &[u8] = b"e2e-signing-secret-0123456789abc";
/// `auth_issuer` and `auth_audience` given to the component (not the defaults, so the
/// checks see the variables arrive).
pub const AUTH_ISSUER: &str = "keemu-e2e";
pub const AUTH_AUDIENCE: &str = "keemu-e2e-api";

/// The `link_key` the api component is started with (signed links, `/links/...`): 32 bytes.
pub const LINK_SECRET: &[u8] = b"e2e-link-key-0123456789abcdefghi";

/// The `link_key` value (base64).
pub fn link_key() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(LINK_SECRET)
}

/// The `auth_keys` value.
pub fn auth_keys() -> String {
    use base64::Engine as _;
    format!(
        "{AUTH_KID}:{}",
        base64::engine::general_purpose::STANDARD.encode(AUTH_SECRET)
    )
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The spin CLI: `$KEEMU_SPIN`, else `spin` on PATH, else `<repo>/../shared/spin/spin`.
pub fn spin_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KEEMU_SPIN").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("spin"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        let shared = repo().join("../shared/spin/spin");
        shared.is_file().then_some(shared)
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A PostgreSQL server of the test's own, migrated.
pub struct Postgres {
    dir: PathBuf,
    pub port: u16,
}

impl Postgres {
    /// Starts a server, creates the `keemu` database and applies the migrations.
    pub fn start() -> Postgres {
        let out = Command::new("mktemp")
            .args(["-d", "/tmp/keemu-e2e-pg.XXXXXX"])
            .output()
            .expect("mktemp");
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        let status = Command::new("chmod")
            .arg("755")
            .arg(&dir)
            .status()
            .expect("chmod");
        assert!(status.success());
        let pg = Postgres {
            dir,
            port: free_port(),
        };
        let started = Instant::now();
        pg.up();
        eprintln!("e2e: PostgreSQL started in {:.1?}", started.elapsed());
        let out = pg.psql_in("postgres", "CREATE DATABASE keemu");
        assert_eq!(out, "CREATE DATABASE");
        let started = Instant::now();
        pg.migrate();
        eprintln!("e2e: migrations applied in {:.1?}", started.elapsed());
        pg
    }

    /// Starts the (stopped) server again on the same port and data.
    pub fn up(&self) {
        let status = Command::new(repo().join("scripts/pg.sh"))
            .arg("start")
            .arg(&self.dir)
            .arg(self.port.to_string())
            .stdout(Stdio::null())
            .status()
            .expect("pg.sh start");
        assert!(status.success(), "PostgreSQL started");
    }

    /// Stops the server (fast shutdown: open connections are closed).
    pub fn down(&self) {
        let status = Command::new(repo().join("scripts/pg.sh"))
            .arg("stop")
            .arg(&self.dir)
            .status()
            .expect("pg.sh stop");
        assert!(status.success(), "PostgreSQL stopped");
    }

    /// Gives the server's new backends priority over everything else on this machine
    /// (niceness -10 for the postmaster, which they inherit), as a database on a server of
    /// its own would have. Needs root (CI runs as root); `false` when it could not.
    pub fn prioritise(&self) -> bool {
        Command::new("renice")
            .args(["-n", "-10", "-p", &self.postmaster_pid().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The postmaster's process id (first line of postmaster.pid).
    pub fn postmaster_pid(&self) -> u32 {
        let text =
            std::fs::read_to_string(self.dir.join("db/postmaster.pid")).expect("postmaster.pid");
        text.lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("pid in postmaster.pid")
    }

    pub fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/keemu?sslmode=disable&connect_timeout=2",
            self.port
        )
    }

    fn migrate(&self) {
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
            .env("DATABASE_URL", self.url())
            .stdout(Stdio::null())
            .status()
            .expect("keemu-migrate");
        assert!(status.success(), "migrations applied");
    }

    fn psql_in(&self, database: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", database, "-X", "-At"])
            .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Like [`Postgres::psql`], `None` when psql fails (e.g. the server is down).
    pub fn psql_try(&self, sql: &str) -> Option<String> {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", "keemu", "-X", "-At", "-c", sql])
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Stops (SIGSTOP) the postmaster and every backend: connections are accepted by the
    /// kernel but nothing answers. Returns the stopped process ids for [`Postgres::thaw`].
    pub fn freeze(&self) -> Vec<String> {
        let postmaster = self.postmaster_pid().to_string();
        let out = Command::new("pgrep")
            .args(["-P", &postmaster])
            .output()
            .expect("pgrep");
        let mut pids: Vec<String> = vec![postmaster];
        pids.extend(
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_owned),
        );
        let status = Command::new("kill")
            .arg("-STOP")
            .args(&pids)
            .status()
            .expect("kill -STOP");
        assert!(status.success(), "SIGSTOP sent to {pids:?}");
        pids
    }

    /// Resumes the processes [`Postgres::freeze`] stopped.
    pub fn thaw(&self, pids: Vec<String>) {
        let _ = Command::new("kill").arg("-CONT").args(&pids).status();
    }

    /// Runs one statement in the `keemu` database; unaligned, tuples only.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_in("keemu", sql)
    }

    /// Sessions of the `keemu` database left inside a transaction.
    pub fn idle_in_transaction(&self) -> String {
        self.psql(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = 'keemu' AND state LIKE 'idle in transaction%'",
        )
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

/// `spin up` in a process group of its own, with its state (logs) in a temporary directory.
pub struct Spin {
    child: Child,
    pub port: u16,
    state: PathBuf,
}

/// How a `spin up` differs from the default (the common variables, and a runtime config
/// that blocks no network: the tests' own servers are on loopback, which the repository's
/// runtime-config.toml blocks).
#[derive(Default)]
pub struct SpinOptions {
    /// A runtime config file instead of the default one (e.g. the repository's).
    pub runtime_config: Option<PathBuf>,
    /// More `--variable name=value` pairs (a `db_timeout_ms` here replaces
    /// [`DB_TIMEOUT_MS`]).
    pub variables: Vec<(String, String)>,
    /// Runs `spin up` (and the trigger it starts) at this niceness: a check that makes the
    /// instance as busy as it can gives the database, which shares this machine's cores, the
    /// CPU it would have on a server of its own.
    pub nice: Option<u8>,
    /// `(url, auth_token)` of a `remote_http` model service: the default runtime config gets
    /// an `[llm_compute]` block naming it.
    pub llm_compute: Option<(String, String)>,
}

impl Spin {
    pub fn start(pg: &Postgres) -> Spin {
        Spin::start_with(pg, &SpinOptions::default())
    }

    pub fn start_with(pg: &Postgres, options: &SpinOptions) -> Spin {
        let spin = spin_binary().expect(
            "the spin CLI (Spin 4) was not found: not on PATH, no $KEEMU_SPIN, and no \
             ../shared/spin/spin beside the repository (https://spinframework.dev/install)",
        );
        let port = free_port();
        let out = Command::new("mktemp")
            .args(["-d", "/tmp/keemu-e2e-spin.XXXXXX"])
            .output()
            .expect("mktemp");
        let state = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        let output = std::fs::File::create(state.join("spin-up.txt")).expect("spin output file");
        let runtime_config = options.runtime_config.clone().unwrap_or_else(|| {
            let path = state.join("runtime-config.toml");
            let mut text = "# e2e: the tests' servers (key set, feeds) are on loopback\n\
                            [outbound_networking]\nblock_networks = []\n"
                .to_owned();
            if let Some((url, token)) = &options.llm_compute {
                text.push_str(&format!(
                    "[llm_compute]\ntype = \"remote_http\"\nurl = \"{url}\"\n\
                     auth_token = \"{token}\"\n"
                ));
            }
            std::fs::write(&path, text).expect("write the e2e runtime config");
            path
        });
        let mut variables = options.variables.clone();
        if !variables.iter().any(|(name, _)| name == "hash_budget") {
            // The checks sign in far faster than a client should: no hash budget, unless a
            // check sets one.
            variables.push(("hash_budget".into(), "1000000/1000000".into()));
        }
        let extra: Vec<String> = variables
            .iter()
            .filter(|(name, _)| name != "db_timeout_ms")
            .flat_map(|(name, value)| ["--variable".to_owned(), format!("{name}={value}")])
            .collect();
        let mut command = match options.nice {
            Some(nice) => {
                let mut command = Command::new("nice");
                command.args(["-n", &nice.to_string()]).arg(&spin);
                command
            }
            None => Command::new(&spin),
        };
        let child = command
            .current_dir(repo())
            .args(["up", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--runtime-config-file")
            .arg(&runtime_config)
            .args(&extra)
            .arg("--state-dir")
            .arg(&state)
            .args(["--variable", &format!("database_url={}", pg.url())])
            .args(["--variable", &format!("db_host=127.0.0.1:{}", pg.port)])
            .args(["--variable", &format!("api_token={TOKEN}")])
            .args(
                crate::google::spin_variables()
                    .iter()
                    .flat_map(|v| ["--variable", v.as_str()]),
            )
            .args([
                "--variable",
                &format!(
                    "db_timeout_ms={}",
                    options
                        .variables
                        .iter()
                        .find(|(name, _)| name == "db_timeout_ms")
                        .map_or(DB_TIMEOUT_MS.to_string(), |(_, value)| value.clone())
                ),
            ])
            .args(["--variable", &format!("auth_keys={}", auth_keys())])
            .args(["--variable", &format!("auth_signing_kid={AUTH_KID}")])
            .args(["--variable", &format!("auth_issuer={AUTH_ISSUER}")])
            .args(["--variable", &format!("auth_audience={AUTH_AUDIENCE}")])
            .args(["--variable", &format!("link_key={}", link_key())])
            .args([
                "--variable",
                &format!("public_base_url=http://127.0.0.1:{port}"),
            ])
            .args(["--variable", "environment=e2e"])
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("spin output file"))
            .stderr(output)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spin up ({}): {e}", spin.display()));
        let started = Instant::now();
        let mut spin = Spin { child, port, state };
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = spin.child.try_wait() {
                panic!("spin up exited with {status}:\n{}", spin.output());
            }
            if spin
                .try_send(&Request::get("/health/live"))
                .is_ok_and(|r| r.status == 200)
            {
                eprintln!("e2e: spin up answered after {:.1?}", started.elapsed());
                return spin;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "spin up did not answer /health/live within 90 s:\n{}",
            spin.output()
        );
    }

    /// Sends a request; panics if there is no parseable answer.
    pub fn send(&self, request: &Request) -> Response {
        self.try_send(request).unwrap_or_else(|e| {
            panic!(
                "{} {}: no HTTP answer from spin: {e}",
                request.method, request.path
            )
        })
    }

    pub fn try_send(&self, request: &Request) -> Result<Response, String> {
        request.send(self.port)
    }

    /// Whether `spin up` is still the process started at the beginning.
    pub fn still_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What `spin up` printed, and the tail of each component log.
    pub fn output(&self) -> String {
        let mut text = std::fs::read_to_string(self.state.join("spin-up.txt")).unwrap_or_default();
        text.push_str(&self.component_logs(40));
        text
    }

    /// Everything the components wrote (stdout and stderr of both).
    pub fn all_component_logs(&self) -> String {
        self.component_logs(usize::MAX)
    }

    /// The components' log lines that tell why a request failed: warnings, errors and
    /// answers with a 5xx status (at most `lines`, the first ones), for a failed check's
    /// message.
    pub fn failure_logs(&self, lines: usize) -> String {
        self.all_component_logs()
            .lines()
            .filter(|line| {
                line.contains("\"level\":\"warn\"")
                    || line.contains("\"level\":\"error\"")
                    || line.contains("\"status\":5")
                    || line.contains("panicked")
            })
            .filter(|line| !line.contains("password_check_refused"))
            .take(lines)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The last `lines` lines of each component's log under `<state>/logs/`.
    pub fn component_logs(&self, lines: usize) -> String {
        let mut text = String::new();
        let Ok(entries) = std::fs::read_dir(self.state.join("logs")) else {
            return text;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let content = std::fs::read_to_string(&path).unwrap_or_default();
            let all: Vec<&str> = content.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            if !tail.is_empty() {
                text.push_str(&format!(
                    "\n--- {} (last {}) ---\n",
                    name(&path),
                    tail.len()
                ));
                text.push_str(&tail.join("\n"));
                text.push('\n');
            }
        }
        text
    }
}

fn name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Drop for Spin {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        if std::env::var_os("KEEMU_E2E_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_dir_all(&self.state);
        } else {
            eprintln!("e2e: spin state and logs kept in {}", self.state.display());
        }
    }
}
