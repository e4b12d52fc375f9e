//! scripts/pg.sh with a data directory whose path has spaces and is too long for a unix
//! socket path: runs scripts/test-pg-sh.sh (start, status, a TCP query, reuse, stop).
//! Needs the PostgreSQL server binaries, like the other integration tests.

use std::process::Command;

#[test]
fn pg_sh_handles_long_paths_with_spaces() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test-pg-sh.sh");
    let output = Command::new("bash")
        .arg(script)
        .arg(port.to_string())
        .output()
        .expect("run scripts/test-pg-sh.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scripts/test-pg-sh.sh failed\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("7 passed, 0 failed"), "{stdout}");
}
