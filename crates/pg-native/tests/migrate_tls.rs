//! `keemu-migrate` against a PostgreSQL that accepts only TLS, with a certificate from a CA
//! made for the test (like a hosted database with a private CA).
//!
//! The test starts its own server (the `openssl` CLI makes the certificates; PostgreSQL runs
//! as the `postgres` OS user when the test runs as root) and runs the real binary, so the
//! address parsing, `KEEMU_DB_CA_FILE`, the exit status and the logged error are all checked.
//! Without PostgreSQL server binaries it says so loudly and passes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PASSWORD: &str = "s3cret-pw";

#[test]
fn migrate_follows_sslmode_against_a_tls_only_server() {
    let Some(bindir) = postgres_bindir() else {
        eprintln!(
            "\n**** SKIPPED migrate_follows_sslmode_against_a_tls_only_server: no PostgreSQL \
             server binaries (initdb) found; install PostgreSQL 15+ or set PG_BINDIR ****\n"
        );
        return;
    };
    let server = TlsServer::start(&bindir);
    let port = server.port;
    let ca = server.dir.join("ca.pem");
    let other_ca = server.dir.join("other-ca.pem");
    let kv = |extra: &str| {
        format!(
            "host=localhost hostaddr=127.0.0.1 port={port} user=postgres password={PASSWORD} dbname=postgres {extra}"
        )
    };

    // Plain TCP is refused by the server's pg_hba.conf.
    let out = migrate(
        &format!("postgres://postgres:{PASSWORD}@127.0.0.1:{port}/postgres?sslmode=disable"),
        None,
    );
    assert_failed(&out, "no encryption");

    // require: encrypted, certificate not checked (the test CA is not trusted here).
    let out = migrate(&kv("sslmode=require"), None);
    assert_succeeded(&out);
    assert!(
        stderr(&out).contains("V1__"),
        "first run applies: {}",
        stderr(&out)
    );

    // No sslmode: libpq's default, prefer, takes TLS without checking the certificate.
    assert_succeeded(&migrate(&kv(""), None));

    // verify-full with the CA: from KEEMU_DB_CA_FILE, and from sslrootcert= in a URL.
    assert_succeeded(&migrate(&kv("sslmode=verify-full"), Some(&ca)));
    assert_succeeded(&migrate(
        &format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{port}/postgres?sslmode=verify-full&sslrootcert={}",
            ca.display()
        ),
        None,
    ));

    // verify-full with the system's CAs only: the private CA is unknown.
    let out = migrate(&kv("sslmode=verify-full"), None);
    assert_failed(&out, "UnknownIssuer");
    assert_failed(&out, "KEEMU_DB_CA_FILE");

    // verify-full with the CA, but a host name the certificate does not hold.
    let mismatch = format!(
        "host=db.invalid hostaddr=127.0.0.1 port={port} user=postgres password={PASSWORD} sslmode=verify-full"
    );
    let out = migrate(&mismatch, Some(&ca));
    assert_failed(&out, "not valid for name");
    assert_failed(&out, "does not name the host");
    // verify-ca skips the name check, not the chain.
    assert_succeeded(&migrate(
        &mismatch.replace("verify-full", "verify-ca"),
        Some(&ca),
    ));
    assert_failed(
        &migrate(
            &mismatch.replace("verify-full", "verify-ca"),
            Some(&other_ca),
        ),
        "UnknownIssuer",
    );

    // require with a root certificate verifies the chain, as libpq does.
    assert_failed(
        &migrate(&kv("sslmode=require"), Some(&other_ca)),
        "UnknownIssuer",
    );
    assert_succeeded(&migrate(&kv("sslmode=require"), Some(&ca)));

    // A CA file that is not there is named; nothing is tried.
    assert_failed(
        &migrate(
            &kv("sslmode=verify-full"),
            Some(Path::new("/nonexistent/ca.pem")),
        ),
        "/nonexistent/ca.pem",
    );
}

/// Runs `keemu-migrate` with `DATABASE_URL=address` and, if given, `KEEMU_DB_CA_FILE`.
fn migrate(address: &str, ca_file: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keemu-migrate"));
    command
        .env("DATABASE_URL", address)
        .env_remove("KEEMU_DATABASE_URL")
        .env_remove("KEEMU_DB_CA_FILE")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    if let Some(path) = ca_file {
        command.env("KEEMU_DB_CA_FILE", path);
    }
    command.output().expect("run keemu-migrate")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_succeeded(out: &Output) {
    let text = stderr(out);
    assert!(out.status.success(), "expected success: {text}");
    assert!(text.contains("\"migrations_applied\""), "{text}");
}

fn assert_failed(out: &Output, expected: &str) {
    let text = stderr(out);
    assert!(!out.status.success(), "expected failure: {text}");
    assert!(text.contains("\"migration_failed\""), "{text}");
    assert!(text.contains(expected), "expected {expected:?} in: {text}");
    assert!(!text.contains(PASSWORD), "password shown: {text}");
}

/// The PostgreSQL server binaries: `PG_BINDIR`, else the newest /usr/lib/postgresql/*/bin,
/// else `pg_config --bindir`, else `initdb` on PATH (as scripts/pg.sh looks).
fn postgres_bindir() -> Option<PathBuf> {
    let has_initdb = |dir: &Path| dir.join("initdb").is_file();
    if let Some(dir) = std::env::var_os("PG_BINDIR").map(PathBuf::from) {
        return has_initdb(&dir).then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            has_initdb(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Some(dir);
    }
    let from = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    if let Some(dir) = from("pg_config", &["--bindir"])
        .map(PathBuf::from)
        .filter(|dir| has_initdb(dir))
    {
        return Some(dir);
    }
    from("sh", &["-c", "command -v initdb"])
        .map(PathBuf::from)
        .and_then(|path| path.parent().map(Path::to_owned))
}

/// A throwaway PostgreSQL on 127.0.0.1 that accepts TLS connections only; stopped and
/// deleted on drop.
struct TlsServer {
    bindir: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl TlsServer {
    fn start(bindir: &Path) -> TlsServer {
        let dir = std::env::temp_dir().join(format!(
            "keemu-tls-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).expect("create the server directory");
        let mut server = TlsServer {
            bindir: bindir.to_owned(),
            dir,
            port: 0,
        };
        server.make_certificates();
        if is_root() {
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:")
                .arg(&server.dir));
        }
        server.run_as_postgres(
            "initdb",
            &[
                "-D",
                &server.data().display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
        );
        // Local socket for nothing but pg_ctl; TCP only with TLS.
        std::fs::write(
            server.data().join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        )
        .expect("write pg_hba.conf");
        for _ in 0..5 {
            server.port = free_port();
            if server.try_start() {
                return server;
            }
        }
        let log = std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default();
        panic!("could not start the TLS PostgreSQL: {log}");
    }

    fn data(&self) -> PathBuf {
        self.dir.join("db")
    }

    fn try_start(&self) -> bool {
        let dir = self.dir.display();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {dir} -c ssl=on \
             -c ssl_cert_file={dir}/server.pem -c ssl_key_file={dir}/server.key \
             -c fsync=off -c full_page_writes=off -c synchronous_commit=off",
            port = self.port
        );
        self.command_as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "30", "-o", &options, "start"])
            .output()
            .map(|out| out.status.success())
            .unwrap_or(false)
    }

    /// A CA, a server certificate from it for `localhost` and 127.0.0.1, and an unrelated CA.
    fn make_certificates(&self) {
        let ca_config = "[req]\ndistinguished_name = dn\nx509_extensions = ca\nprompt = no\n\
                         [dn]\nCN = KeeMU test CA\n\
                         [ca]\nbasicConstraints = critical,CA:TRUE\n\
                         keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n";
        let server_ext = "[server]\nsubjectAltName = DNS:localhost,IP:127.0.0.1\n\
                          basicConstraints = critical,CA:FALSE\n\
                          keyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n";
        std::fs::write(self.dir.join("ca.cnf"), ca_config).expect("write ca.cnf");
        std::fs::write(self.dir.join("server.ext"), server_ext).expect("write server.ext");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for (name, subject) in [("ca", "/CN=KeeMU test CA"), ("other-ca", "/CN=Other CA")] {
            self.openssl(
                &[
                    "req", "-x509", "-config", "ca.cnf", "-subj", subject, "-days", "2",
                ],
                &ec,
                &[
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.pem"),
                ],
            );
        }
        self.openssl(
            &["req", "-new", "-subj", "/CN=localhost"],
            &ec,
            &["-keyout", "server.key", "-out", "server.csr"],
        );
        self.openssl(
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
            ],
            &["-CAcreateserial", "-days", "2"],
            &[
                "-extfile",
                "server.ext",
                "-extensions",
                "server",
                "-out",
                "server.pem",
            ],
        );
        set_mode(&self.dir.join("server.key"), 0o600);
        set_mode(&self.dir, 0o755);
    }

    fn openssl(&self, a: &[&str], b: &[&str], c: &[&str]) {
        let out = Command::new("openssl")
            .current_dir(&self.dir)
            .args(a)
            .args(b)
            .args(c)
            .output()
            .unwrap_or_else(|e| {
                panic!("the `openssl` CLI is needed to make the test certificates: {e}")
            });
        assert!(
            out.status.success(),
            "openssl {a:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn command_as_postgres(&self, program: &str) -> Command {
        let program = self.bindir.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command.current_dir("/");
            command
        } else {
            Command::new(program)
        }
    }

    fn run_as_postgres(&self, program: &str, args: &[&str]) {
        run(self.command_as_postgres(program).args(args));
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            let _ = self
                .command_as_postgres("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(command: &mut Command) {
    let out = command.output().expect("run a setup command");
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| out.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A port nothing listens on right now (the server may still lose a race for it: retried).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("find a free port")
}
