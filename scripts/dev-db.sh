#!/usr/bin/env bash
# The local development database (for `make up`, `make down`, `make db-shell`), and
# throwaway test databases (for `make test`, `make e2e`). Uses scripts/pg.sh.
#
#   scripts/dev-db.sh start        start the dev server (reused if running), create database
#                                  `keemu` if missing; prints the DATABASE_URL on stdout
#                                  (progress messages go to stderr)
#   scripts/dev-db.sh stop         stop the dev server (data is kept)
#   scripts/dev-db.sh status       exit 0 if the dev server is running
#   scripts/dev-db.sh url          print the dev DATABASE_URL
#   scripts/dev-db.sh dir          print the dev data directory
#   scripts/dev-db.sh shell [ARGS] psql on the dev database
#   scripts/dev-db.sh host-port URL
#                                  print host:port of a PostgreSQL URL or key=value string
#                                  (port defaults to 5432), for spin.toml's db_host
#   scripts/dev-db.sh test-run VAR CMD [ARGS...]
#                                  start a throwaway server in a fresh mktemp dir on a free
#                                  port, export VAR=<server address>, run CMD, then always
#                                  stop the server and delete the dir; exits with CMD's code
#
# Environment:
#   KEEMU_DEV_DB_PORT  dev server port (default 54329)
#   PG_BINDIR          PostgreSQL bin directory (default: found like scripts/pg.sh does)
#
# Dev data lives in .data/postgres in the repo. As root, the server runs as the `postgres` OS
# user; if that user cannot traverse the repo path (e.g. a repo under /root), the data goes to
# /var/tmp/keemu-dev-<hash of the repo path> instead, recorded in .data/pgdir so later calls
# (stop, shell) find it.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
pg="$repo/scripts/pg.sh"
port="${KEEMU_DEV_DB_PORT:-54329}"
dbname="keemu"

die() { echo "dev-db.sh: $*" >&2; exit 1; }
log() { echo "dev-db.sh: $*" >&2; }

is_root() { [[ "$(id -u)" == "0" ]]; }

# pg.sh from / : as root it runs PostgreSQL tools as the postgres user, which may not be able
# to enter the current directory (harmless, but noisy).
pgsh() { (cd / && "$pg" "$@"); }

# psql: from the server's bindir if possible (same version), else PATH.
psql_bin() {
    local dir
    if [[ -n "${PG_BINDIR:-}" && -x "$PG_BINDIR/psql" ]]; then echo "$PG_BINDIR/psql"; return; fi
    if command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/psql" ]]; then
        echo "$(pg_config --bindir)/psql"; return
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/psql" ]]; then echo "$dir/psql"; return; fi
    done
    command -v psql 2>/dev/null || die "psql not found (install the PostgreSQL client or set PG_BINDIR)"
}

# The dev data directory, chosen once and remembered in .data/pgdir when it is not the
# in-repo default.
data_dir() {
    local record="$repo/.data/pgdir" dir hash
    if [[ -s "$record" ]]; then
        dir="$(head -n 1 "$record")"
        if [[ -n "$dir" ]]; then echo "$dir"; return; fi
    fi
    dir="$repo/.data/postgres"
    if is_root && id postgres >/dev/null 2>&1 \
        && ! runuser -u postgres -- test -x "$repo" 2>/dev/null; then
        hash="$(printf '%s' "$repo" | sha256sum | cut -c1-12)"
        dir="/var/tmp/keemu-dev-$hash"
        mkdir -p "$repo/.data"
        printf '%s\n' "$dir" >"$record"
        log "the postgres user cannot reach $repo; dev data goes to $dir (recorded in .data/pgdir)"
    fi
    echo "$dir"
}

dev_url() { echo "postgres://postgres@127.0.0.1:$port/$dbname?sslmode=disable"; }

# Port is free if nothing accepts a TCP connection on it.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cmd_start() {
    local dir psql exists
    dir="$(data_dir)"
    mkdir -p "$repo/.data"
    if is_root; then chmod 755 "$repo/.data"; fi
    pgsh start "$dir" "$port" >&2
    psql="$(psql_bin)"
    exists="$("$psql" -X -q -tA -v ON_ERROR_STOP=1 \
        "host=127.0.0.1 port=$port user=postgres dbname=postgres" \
        -c "select 1 from pg_database where datname = '$dbname'")"
    if [[ "$exists" != "1" ]]; then
        "$psql" -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$port user=postgres dbname=postgres" \
            -c "create database $dbname" >&2
        log "created database $dbname"
    fi
    dev_url
}

cmd_host_port() {
    local url="${1:?usage: $0 host-port URL}" rest host hp port_part
    if [[ "$url" =~ ^postgres(ql)?:// ]]; then
        rest="${url#*://}"
        rest="${rest%%[/?]*}"           # authority: [user[:pass]@]host[:port]
        hp="${rest##*@}"
        if [[ "$hp" == \[*\]:* ]]; then  # [v6]:port
            echo "$hp"
        elif [[ "$hp" == \[*\] ]]; then
            echo "$hp:5432"
        elif [[ "$hp" == *:* ]]; then
            echo "$hp"
        else
            [[ -n "$hp" ]] || hp="localhost"
            echo "$hp:5432"
        fi
    else                                # key=value form
        host="$(sed -n 's/.*\(^\|[[:space:]]\)host=\([^[:space:]]*\).*/\2/p' <<<"$url")"
        port_part="$(sed -n 's/.*\(^\|[[:space:]]\)port=\([^[:space:]]*\).*/\2/p' <<<"$url")"
        echo "${host:-localhost}:${port_part:-5432}"
    fi
}

cmd_test_run() {
    local var="${1:?usage: $0 test-run VAR CMD [ARGS...]}"; shift
    [[ $# -gt 0 ]] || die "usage: $0 test-run VAR CMD [ARGS...]"
    [[ "$var" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "not a variable name: $var"
    local tmp tport attempt rc
    tmp="$(mktemp -d /tmp/keemu-test-pg.XXXXXX)"
    chmod 755 "$tmp"  # the postgres OS user (when we are root) must reach it
    # shellcheck disable=SC2064  # expand $tmp now
    trap "(cd / && '$pg' stop '$tmp') >/dev/null 2>&1 || true; rm -rf -- '$tmp'" EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM

    tport=""
    for attempt in 1 2 3 4 5 6 7 8; do
        local candidate=$((55000 + RANDOM % 5000))
        port_free "$candidate" || continue
        if pgsh start "$tmp" "$candidate" >&2; then tport="$candidate"; break; fi
        log "could not start PostgreSQL on port $candidate (attempt $attempt), retrying"
    done
    [[ -n "$tport" ]] || die "could not start a throwaway PostgreSQL"

    export "$var=host=127.0.0.1 port=$tport user=postgres dbname=postgres"
    log "throwaway PostgreSQL on 127.0.0.1:$tport ($tmp); $var=${!var}"
    # Run CMD in its own process group (setsid), in the background so that `wait` returns as
    # soon as a signal arrives: on HUP/INT/TERM the whole group (make, cargo, test binaries,
    # spin) gets SIGTERM, then the EXIT trap stops the server and removes $tmp. Ctrl-C in a
    # terminal reaches this script, which forwards it that way.
    local child sig
    if command -v setsid >/dev/null 2>&1; then
        setsid --wait "$@" <&0 &
    else
        "$@" <&0 &
    fi
    child=$!
    for sig in HUP INT TERM; do
        # shellcheck disable=SC2064  # expand $child and $sig now
        trap "kill -TERM -- -$child 2>/dev/null || kill -TERM $child 2>/dev/null; wait $child 2>/dev/null; trap - $sig; exit \$((128 + \$(kill -l $sig)))" "$sig"
    done
    set +e
    wait "$child"
    rc=$?
    set -e
    exit "$rc"   # the EXIT trap stops the server and removes $tmp
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
start)     cmd_start ;;
stop)      pgsh stop "$(data_dir)" ;;
status)    pgsh status "$(data_dir)" ;;
url)       dev_url ;;
dir)       data_dir ;;
shell)     exec "$(psql_bin)" "$(dev_url)" "$@" ;;
host-port) cmd_host_port "$@" ;;
test-run)  cmd_test_run "$@" ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
