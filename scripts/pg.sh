#!/usr/bin/env bash
# A project-local PostgreSQL server on loopback, for `make up` and `make test`.
#
#   scripts/pg.sh start DATA_DIR PORT   initialise DATA_DIR if empty, start the server on
#                                       127.0.0.1:PORT (reused if already running)
#   scripts/pg.sh stop DATA_DIR         stop it (no-op if not running)
#   scripts/pg.sh status DATA_DIR       exit 0 if running
#
# PostgreSQL refuses to run as root: as root, the server runs as the `postgres` OS user, and
# DATA_DIR must be somewhere that user can reach (callers pass a directory under /tmp or
# /var/tmp in that case). Authentication is `trust` on loopback only: a development and test
# server, never a production one.
#
# Clients connect over TCP only (127.0.0.1:PORT): the server opens no unix socket, so
# DATA_DIR may be any path, with spaces or longer than a socket path may be (107 bytes).
# pg_ctl -w waits on postmaster.pid, not on a connection, so it needs no socket either.
# (`-o` is read by a shell in pg_ctl, hence the quoted '' for the empty list.)
#
# Durability is off (fsync, full-page writes, synchronous commit): data the server loses in a
# crash is test or development data. The write-ahead log is kept to about 128 MB rather than
# 1 GB: each test database is a `CREATE DATABASE` that logs its whole template, and a
# `make test` creates hundreds of them on a machine whose disk may be nearly full.
set -euo pipefail

find_bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then echo "$PG_BINDIR"; return; fi
    if command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/initdb" ]]; then
        pg_config --bindir; return
    fi
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/initdb" ]]; then echo "$dir"; return; fi
    done
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
    echo "pg.sh: no PostgreSQL server binaries found (initdb). Install PostgreSQL 15+" \
         "(Debian: apt-get install postgresql) or set PG_BINDIR." >&2
    exit 1
}

as_pg() {
    if [[ "$(id -u)" == "0" ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

cmd="${1:-}"; data="${2:-}"
[[ -n "$cmd" && -n "$data" ]] || { echo "usage: $0 start|stop|status DATA_DIR [PORT]" >&2; exit 2; }
bindir="$(find_bindir)"

case "$cmd" in
start)
    port="${3:?usage: $0 start DATA_DIR PORT}"
    mkdir -p "$data"
    if [[ "$(id -u)" == "0" ]]; then
        id postgres >/dev/null 2>&1 || { echo "pg.sh: running as root needs a 'postgres' OS user" >&2; exit 1; }
        chown postgres: "$data"
        if ! runuser -u postgres -- test -w "$data"; then
            echo "pg.sh: the postgres user cannot write $data (a parent directory is closed to it)" >&2
            exit 1
        fi
    fi
    if as_pg "$bindir/pg_ctl" -D "$data/db" status >/dev/null 2>&1; then
        echo "pg.sh: PostgreSQL already running in $data"
        exit 0
    fi
    if [[ ! -f "$data/db/PG_VERSION" ]]; then
        as_pg "$bindir/initdb" -D "$data/db" -U postgres --auth=trust --encoding=UTF8 \
            --locale=C.UTF-8 >"$data/initdb.log" 2>&1 \
          || { cat "$data/initdb.log" >&2; exit 1; }
    fi
    as_pg "$bindir/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='' -c max_connections=300 -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_wal_size=128MB -c min_wal_size=32MB" \
        start >/dev/null \
      || { tail -n 30 "$data/server.log" >&2; exit 1; }
    echo "pg.sh: PostgreSQL running on 127.0.0.1:$port (data in $data)"
    ;;
stop)
    if [[ -f "$data/db/postmaster.pid" ]]; then
        as_pg "$bindir/pg_ctl" -D "$data/db" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
status)
    as_pg "$bindir/pg_ctl" -D "$data/db" status >/dev/null 2>&1
    ;;
*)
    echo "usage: $0 start|stop|status DATA_DIR [PORT]" >&2; exit 2 ;;
esac
