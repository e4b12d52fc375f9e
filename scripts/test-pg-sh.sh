#!/usr/bin/env bash
# Tests scripts/pg.sh with a data directory whose path contains spaces and is longer than a
# unix socket path may be (107 bytes): start, status, a query over TCP, a second start that
# reuses the server, stop, status after stop. Always stops the server and deletes the dir.
#
#   scripts/test-pg-sh.sh [PORT]    PORT: a free TCP port (default: one picked by python3)
#
# Prints "N passed, N failed"; exits non-zero if any check failed.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
pg="$repo/scripts/pg.sh"
port="${1:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"

base="$(mktemp -d /tmp/keemu-pg-sh-test.XXXXXX)"
chmod 755 "$base"   # as root, the server runs as `postgres`, which must reach the data dir
data="$base/a dir with spaces/and a rather long name that pushes the unix socket path past its limit/data dir"
cleanup() {
    (cd / && "$pg" stop "$data") >/dev/null 2>&1 || true
    rm -rf "$base"
}
trap cleanup EXIT

passed=0; failed=0
check() {
    local name="$1"; shift
    if "$@"; then
        passed=$((passed + 1)); echo "ok: $name"
    else
        failed=$((failed + 1)); echo "FAILED: $name" >&2
    fi
}

psql_bin() {
    local dir
    if [[ -n "${PG_BINDIR:-}" && -x "$PG_BINDIR/psql" ]]; then echo "$PG_BINDIR/psql"; return; fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/psql" ]]; then echo "$dir/psql"; return; fi
    done
    command -v psql
}

path_is_long() { (( ${#data} > 110 )); }
start() { (cd / && "$pg" start "$data" "$port"); }
status() { (cd / && "$pg" status "$data"); }
not_status() { ! status; }
stop() { (cd / && "$pg" stop "$data"); }
query() {
    local out
    out="$("$(psql_bin)" -X -tA "host=127.0.0.1 port=$port user=postgres dbname=postgres" \
        -c 'SELECT 40 + 2')"
    [[ "$out" == "42" ]]
}
restart_reuses() { start | grep -q 'already running'; }
mkdir -p "$base/a dir with spaces"
chmod 755 "$base/a dir with spaces"

check "the data dir path has spaces and is ${#data} bytes (> 110)" path_is_long
check "start" start
check "status after start" status
check "a query over TCP loopback" query
check "a second start reuses the server" restart_reuses
check "stop" stop
check "status after stop" not_status

echo "$passed passed, $failed failed"
(( failed == 0 ))
