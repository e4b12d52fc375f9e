#!/usr/bin/env bash
# `make bench`: the API's throughput and latency under a real `spin up`, beside a floor.
#
# Builds the components and the floor (bench/floor), starts a throwaway PostgreSQL
# (scripts/pg.sh in a mktemp dir), migrates it, starts the project and the floor with
# `spin up` on two free ports against that same database, loads users, then runs wrk
# (bench/wrk/scenario.lua) for each scenario and prints one table, which it also writes
# with a description of the machine to $BENCH_OUT. Nothing here asserts on time.
#
# Environment (defaults in brackets):
#   BENCH_USERS        users to load [1000]; up to 10000 through POST /api/v1/users,
#                      more directly by SQL (generate_series)
#   BENCH_DURATION     wrk duration per scenario and round [8s]
#   BENCH_ROUNDS       rounds of the scenarios compared with the floor (get_user, list,
#                      list_deep), project and floor taking turns to go first [5]
#   BENCH_WARMUP       wrk warm-up per scenario, not measured [1s]
#   BENCH_THREADS      wrk threads [2]
#   BENCH_CONNECTIONS  wrk connections [32]
#   BENCH_SCENARIOS    space-separated subset of the scenario names [all]
#   BENCH_OUT          results file [bench/results.md]
#   SPIN               the spin CLI [spin on PATH, else ../shared/spin/spin beside the repo]
#   PG_BINDIR          PostgreSQL binaries (see scripts/pg.sh)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$repo"

users="${BENCH_USERS:-1000}"
duration="${BENCH_DURATION:-8s}"
warmup="${BENCH_WARMUP:-1s}"
threads="${BENCH_THREADS:-2}"
connections="${BENCH_CONNECTIONS:-32}"
out="${BENCH_OUT:-bench/results.md}"
token="bench-token-0123456789"
api_load_limit=10000

log() { echo "bench: $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

[[ "$users" =~ ^[0-9]+$ && "$users" -ge 10 ]] || die "BENCH_USERS must be a whole number >= 10"

# --- tools -------------------------------------------------------------------------------

find_spin() {
    if [[ -n "${SPIN:-}" ]]; then echo "$SPIN"; return; fi
    if command -v spin >/dev/null 2>&1; then command -v spin; return; fi
    if [[ -x "$repo/../shared/spin/spin" ]]; then echo "$repo/../shared/spin/spin"; return; fi
    die "the spin CLI (Spin 4) is neither on PATH nor at ../shared/spin/spin; install it from https://spinframework.dev/install or set SPIN"
}

ensure_wrk() {
    command -v wrk >/dev/null 2>&1 && return
    if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
        log "installing wrk (apt-get)"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >&2; then
            apt-get update -q >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >&2
        fi
    fi
    command -v wrk >/dev/null 2>&1 \
        || die "wrk is not installed (Debian/Ubuntu: apt-get install wrk; macOS: brew install wrk)"
}

find_psql() {
    local dir
    if [[ -n "${PG_BINDIR:-}" && -x "$PG_BINDIR/psql" ]]; then echo "$PG_BINDIR/psql"; return; fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/psql" ]]; then echo "$dir/psql"; return; fi
    done
    command -v psql 2>/dev/null || die "psql not found (install the PostgreSQL client or set PG_BINDIR)"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

spin_bin="$(find_spin)"
ensure_wrk
psql_bin="$(find_psql)"

# --- build -------------------------------------------------------------------------------

log "building the components, the floor and the migration runner"
cargo build -q --target wasm32-wasip2 --release -p keemu-health -p keemu-api -p keemu-ingest
(cd bench/floor && cargo build -q --target wasm32-wasip2 --release --target-dir ../../target)
cargo build -q -p keemu-pg-native --bin keemu-migrate

# --- database and apps -------------------------------------------------------------------

tmp="$(mktemp -d /tmp/keemu-bench.XXXXXX)"
chmod 755 "$tmp"   # the postgres OS user (when we are root) must reach it
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    (cd / && "$repo/scripts/pg.sh" stop "$tmp") >/dev/null 2>&1 || true
    rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

db_port="$(free_port)"
(cd / && "$repo/scripts/pg.sh" start "$tmp" "$db_port") >&2
db_url="postgres://postgres@127.0.0.1:$db_port/keemu?sslmode=disable"
db_host="127.0.0.1:$db_port"
psql_db() { "$psql_bin" -X -q -v ON_ERROR_STOP=1 "$db_url" "$@"; }
"$psql_bin" -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$db_port user=postgres dbname=postgres" \
    -c "CREATE DATABASE keemu"
DATABASE_URL="$db_url" target/debug/keemu-migrate >/dev/null

# Starts `spin up` in a process group of its own (it runs `spin trigger http` as a child that
# holds the port), with its state and logs under $tmp.
start_spin() {
    local name="$1" manifest="$2" listen="$3"
    mkdir -p "$tmp/$name"
    setsid "$spin_bin" up -f "$manifest" --listen "$listen" \
        --state-dir "$tmp/$name/state" --log-dir "$tmp/$name/logs" \
        --variable "database_url=$db_url" --variable "db_host=$db_host" \
        --variable "api_token=$token" \
        >"$tmp/$name/spin.out" 2>&1 &
    pids+=("$!")
}

# Waits until `curl URL` answers 200.
wait_ready() {
    local name="$1" url="$2" i
    for i in $(seq 1 600); do
        if [[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url" || true)" == "200" ]]; then
            return
        fi
        sleep 0.1
    done
    tail -n 30 "$tmp/$name/spin.out" >&2 || true
    die "$name did not answer 200 at $url within 60 s"
}

app="127.0.0.1:$(free_port)"
floor="127.0.0.1:$(free_port)"
start_spin app spin.toml "$app"
start_spin floor bench/floor/spin.toml "$floor"
wait_ready app "http://$app/health"
wait_ready floor "http://$floor/api/v1/users?limit=1"
log "project on http://$app, floor on http://$floor, database $db_host"

# --- users -------------------------------------------------------------------------------

if (( users <= api_load_limit )); then
    log "loading $users users through POST /api/v1/users"
    codes="$(seq 1 "$users" | xargs -P 8 -I{} curl -s -o /dev/null -w '%{http_code}\n' \
        -X POST "http://$app/api/v1/users" \
        -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d '{"email":"load{}@example.com","name":"Load User {}","timezone":"Europe/London","profession":"Engineer","date_of_birth":"1990-05-17","profile_picture":"https://example.com/u/{}.png"}' \
        | sort | uniq -c | tr -s ' ')"
    if [[ "$codes" != " $users 201" ]]; then
        die "loading users through the API failed; status counts:$(tr '\n' ',' <<<"$codes")"
    fi
    load_method="through POST /api/v1/users"
else
    log "loading $users users by SQL (generate_series)"
    psql_db <<SQL
SET session_replication_role = replica;  -- skip the foreign-key checks: rows are right by construction
INSERT INTO users (email, name, profile_picture, profession, date_of_birth, timezone)
    SELECT 'load' || g || '@example.com', 'Load User ' || g, 'https://example.com/u/' || g || '.png',
           'Engineer', DATE '1990-05-17', 'Europe/London'
    FROM generate_series(1, $users) AS g;
INSERT INTO user_preferences (user_id) SELECT id FROM users;
SET session_replication_role = DEFAULT;
ANALYZE users;
ANALYZE user_preferences;
SQL
    load_method="by SQL (generate_series)"
fi
# Read both tables and their indexes once, so the app measured first does not warm the
# cache for the one measured second (it matters with a million users).
log "reading the tables and indexes into the cache"
psql_db -tA >/dev/null <<SQL
SELECT count(*) FROM users;
SELECT count(*) FROM user_preferences;
SET enable_seqscan = off;
SELECT count(*) FROM users WHERE id > 0;
SELECT count(*) FROM user_preferences WHERE user_id > 0;
SQL
read -r id_min id_max count < <(psql_db -tA -F ' ' -c "SELECT min(id), max(id), count(*) FROM users")
deep_after=$(( id_min + (count * 9 / 10) - 1 ))
log "$count users, ids $id_min..$id_max; deep page after=$deep_after"

# Same body (as JSON: key order may differ) and ETag from the project and the floor, or the
# comparison means nothing.
same_json() {
    python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' "$1" "$2"
}
same_contract="yes"
for path in "/api/v1/users/$id_min" "/api/v1/users?limit=20" "/api/v1/users?limit=20&after=$deep_after"; do
    for target in app floor; do
        addr="$app"; [[ "$target" == floor ]] && addr="$floor"
        curl -s -D "$tmp/$target.headers" -o "$tmp/$target.body" \
            -H "Authorization: Bearer $token" "http://$addr$path"
        grep -i -E '^(etag|content-type|cache-control):' "$tmp/$target.headers" \
            | tr -d '\r' | tr 'A-Z' 'a-z' | sort >"$tmp/$target.h"
    done
    if ! same_json "$tmp/app.body" "$tmp/floor.body" || ! cmp -s "$tmp/app.h" "$tmp/floor.h"; then
        same_contract="NO (differs at $path)"
        log "WARNING: the project and the floor answer $path differently"
    fi
done
# A floor that serves something else measures nothing: stop before the scenarios.
if [[ "$same_contract" != yes ]]; then
    log "FAIL: the project and the floor do not serve the same contract ($same_contract)"
    log "project: $(cat "$tmp/app.body" | head -c 300)"
    log "floor:   $(cat "$tmp/floor.body" | head -c 300)"
    exit 1
fi

# --- scenarios ---------------------------------------------------------------------------

# name | wrk kind | path (plain) | compared with the floor
scenarios=(
    "health|plain|/health|no"
    "get_user|get_user||yes"
    "list|plain|/api/v1/users?limit=20|yes"
    "list_deep|plain|/api/v1/users?limit=20&after=$deep_after|yes"
    "post_user|post_user||no"
    "patch_user|patch_user||no"
)
rounds="${BENCH_ROUNDS:-5}"

results="$tmp/results.txt"
: >"$results"
run_wrk() {
    local addr="$1" kind="$2" path="$3" length="$4" tag="$5"
    BENCH_KIND="$kind" BENCH_PATH="$path" BENCH_TOKEN="$token" \
    BENCH_ID_MIN="$id_min" BENCH_ID_MAX="$id_max" BENCH_RUN="$tag" \
        wrk -t "$threads" -c "$connections" -d "$length" --latency \
            -s bench/wrk/scenario.lua "http://$addr"
}

# One measured run, after a warm-up: appends "name target round BENCH_RESULT-fields".
measure() {
    local name="$1" target="$2" round="$3" kind="$4" path="$5" addr="$app" line
    [[ "$target" == floor ]] && addr="$floor"
    log "$name ($target, round $round): warm-up $warmup, then $duration"
    run_wrk "$addr" "$kind" "$path" "$warmup" "w$RANDOM$SECONDS" >/dev/null
    line="$(run_wrk "$addr" "$kind" "$path" "$duration" "m$RANDOM$SECONDS" | grep '^BENCH_RESULT' || true)"
    [[ -n "$line" ]] || die "wrk printed no result for $name ($target)"
    echo "$name $target $round ${line#BENCH_RESULT }" >>"$results"
}

# The machine drifts (other tenants, caches, the database's own state): a scenario compared
# with the floor runs $rounds times for each, project and floor taking turns to go first, so
# neither always runs on the warmer or the quieter side.
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
for entry in "${scenarios[@]}"; do
    IFS='|' read -r name kind path compared <<<"$entry"
    if [[ -n "${BENCH_SCENARIOS:-}" && " $BENCH_SCENARIOS " != *" $name "* ]]; then continue; fi
    if [[ "$compared" == no ]]; then
        measure "$name" app 1 "$kind" "$path"
        continue
    fi
    for round in $(seq 1 "$rounds"); do
        order="app floor"; (( round % 2 == 0 )) && order="floor app"
        for target in $order; do measure "$name" "$target" "$round" "$kind" "$path"; done
    done
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- report ------------------------------------------------------------------------------

# Per scenario and app, over its rounds: req/s = all requests / all measured time; p50 and
# p99 = the mean of the rounds' percentiles; errors and requests summed.
table="$(awk '
    function v(key,   i, kv) { for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return kv[2] } return 0 }
    BEGIN {
        print "| scenario | app | rounds | req/s | p50 ms | p99 ms | non-2xx | socket errors | requests |"
        print "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    }
    {
        k = $1 SUBSEP $2
        if (!(k in n)) order[++keys] = k
        n[k]++; req[k] += v("requests"); us[k] += v("duration_us"); p50[k] += v("p50_us"); p99[k] += v("p99_us")
        st[k] += v("status_errors"); so[k] += v("socket_errors")
    }
    END {
        for (i = 1; i <= keys; i++) {
            k = order[i]; split(k, part, SUBSEP)
            printf "| %s | %s | %d | %.0f | %.2f | %.2f | %d | %d | %d |\n", part[1], (part[2] == "app" ? "project" : "floor"),
                n[k], req[k] / (us[k] / 1e6), p50[k] / n[k] / 1000, p99[k] / n[k] / 1000, st[k], so[k], req[k]
        }
    }' "$results")"

ratios="$(awk '
    function v(key,   i, kv) { for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return kv[2] } return 0 }
    {
        k = $1 SUBSEP $2
        req[k] += v("requests"); us[k] += v("duration_us"); p50[k] += v("p50_us"); p99[k] += v("p99_us"); n[k]++
        round_rps[$1, $2, $3] = v("requests") / (v("duration_us") / 1e6); rounds[$1] = ($3 > rounds[$1] ? $3 : rounds[$1])
    }
    function rps(s, a) { return req[s, a] / (us[s, a] / 1e6) }
    END {
        print "| scenario | project req/s ÷ floor req/s: median of the rounds | rounds, min to max | all rounds together | project p50 ÷ floor p50 | project p99 ÷ floor p99 |"
        print "|---|---:|---:|---:|---:|---:|"
        m = split("get_user list list_deep", names, " ")
        for (i = 1; i <= m; i++) {
            s = names[i]
            if (n[s, "app"] && n[s, "floor"] && us[s, "floor"] > 0 && p50[s, "floor"] > 0 && p99[s, "floor"] > 0) {
                k = 0
                for (r = 1; r <= rounds[s]; r++) {
                    if (!((s, "app", r) in round_rps) || !((s, "floor", r) in round_rps) || round_rps[s, "floor", r] <= 0) continue
                    x = round_rps[s, "app", r] / round_rps[s, "floor", r]
                    # insertion into the sorted list ratio[1..k]
                    for (j = k; j >= 1 && ratio[j] > x; j--) ratio[j + 1] = ratio[j]
                    ratio[j + 1] = x; k++
                }
                if (k == 0) continue
                median = (k % 2 == 1) ? ratio[(k + 1) / 2] : (ratio[k / 2] + ratio[k / 2 + 1]) / 2
                printf "| %s | %.2f | %.2f to %.2f | %.2f | %.2f | %.2f |\n", s, median, ratio[1], ratio[k],
                    rps(s, "app") / rps(s, "floor"),
                    (p50[s, "app"] / n[s, "app"]) / (p50[s, "floor"] / n[s, "floor"]),
                    (p99[s, "app"] / n[s, "app"]) / (p99[s, "floor"] / n[s, "floor"])
            }
        }
        print ""
        print "| app | list_deep req/s ÷ list req/s | list_deep p50 ÷ list p50 |"
        print "|---|---:|---:|"
        split("app floor", apps, " ")
        for (i = 1; i <= 2; i++) {
            a = apps[i]
            if (n["list", a] && n["list_deep", a] && us["list", a] > 0 && p50["list", a] > 0)
                printf "| %s | %.2f | %.2f |\n", (a == "app" ? "project" : "floor"), rps("list_deep", a) / rps("list", a),
                    (p50["list_deep", a] / n["list_deep", a]) / (p50["list", a] / n["list", a])
        }
    }' "$results")"

mem_kb="$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
cpu_model="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then commit="$commit (with uncommitted changes)"; fi

report="$(cat <<EOF
# Benchmark results

Written by \`make bench\` (bench/run.sh). Re-run to replace.

- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)
- commit: $commit
- machine: $(nproc) CPUs ($cpu_model), $(( mem_kb / 1024 / 1024 )) GiB memory, $(uname -sr)
- load average (1/5/15 min) before the scenarios: $load_start; after: $load_end
- $("$spin_bin" --version), $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2), $("$psql_bin" -X -tA "$db_url" -c 'SHOW server_version')
  (scripts/pg.sh: fsync off, loopback), same machine as the load generator
- wrk: $threads threads, $connections connections, $duration per run after a $warmup warm-up;
  get_user, list and list_deep: $rounds rounds each for the project and the floor, taking turns
  to go first
- data: $count users loaded $load_method; list_deep is \`?limit=20&after=$deep_after\`
- project and floor answer GET user and both lists with the same bodies and headers: $same_contract

req/s over all of a scenario's rounds; p50/p99 are wrk's latency percentiles, averaged over the
rounds; non-2xx counts answers with
status 400 or above (wrk's count; no scenario expects a redirect); socket errors are connect,
read, write and timeout errors. The floor (bench/floor) is the thinnest component serving the
same GET user and list contract; it has no /health, POST or PATCH.

$table

Project against the floor (same run, same database). Each round runs the project and the
floor one right after the other, so the ratio of a round compares two runs under nearly the
same conditions; the median of the rounds is the least moved by a disturbed run (other
tenants of the machine), and the ratio of all rounds together is given beside it.

$ratios
EOF
)"

mkdir -p "$(dirname "$out")"
printf '%s\n' "$report" >"$out"
printf '%s\n' "$report"
log "written to $out"
