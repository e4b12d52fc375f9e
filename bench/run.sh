#!/usr/bin/env bash
# `make bench`: the API's throughput and latency under a real `spin up`, beside a floor.
#
# Builds the components and the floor (bench/floor), starts a throwaway PostgreSQL
# (scripts/pg.sh in a mktemp dir), migrates it, starts the project and two floors with
# `spin up` on free ports against that same database (the floor, and the bounded floor: the
# same component racing each statement against db_timeout_ms as the project does), loads
# users, then runs wrk (bench/wrk/scenario.lua) for each scenario, checks that the project
# and the bounded floor answer within the bound while the database hangs, runs the soak
# (RSS of each `spin trigger http` process sampled while it serves GET user for minutes),
# and prints the tables, which it also writes with a description of the machine to
# $BENCH_OUT. Nothing here asserts on time.
#
# Environment (defaults in brackets):
#   BENCH_USERS        users to load [1000]; up to 10000 through POST /api/v1/users,
#                      more directly by SQL (generate_series)
#   BENCH_DURATION     wrk duration per scenario and round [8s]
#   BENCH_ROUNDS       rounds of the scenarios compared with the floors (get_user, list,
#                      list_deep), the project and the floors taking turns to go first [5]
#   BENCH_DB_TIMEOUT_MS  db_timeout_ms of the project and the bounded floor [2000]
#   BENCH_SOAK         how long the soak serves GET user to each app it samples [600s];
#                      0 skips it (as does BENCH_SCENARIOS without "soak")
#   BENCH_SOAK_INTERVAL  seconds between RSS samples in the soak [30]
#   BENCH_SOAK_APPS    apps soaked, one after the other, each freshly started
#                      [app floor]; any of app floor floor_bounded
#   BENCH_WARMUP       wrk warm-up per scenario, not measured [1s]
#   BENCH_THREADS      wrk threads [2]
#   BENCH_CONNECTIONS  wrk connections [32]
#   BENCH_SCENARIOS    space-separated subset of the scenario names, "hung_db" and "soak"
#                      included [all but digests]; "digests" runs only when named
#                      (`make bench-digests`)
#   BENCH_DIGEST_USERS, _SUBSCRIPTIONS, _SOURCES, _ITEMS  the digests scenario's data
#                      [10000, 20 each, 2000, 1000000], loaded by SQL
#   BENCH_DIGEST_LIMIT  users claimed per POST /internal/digests round [100]
#   BENCH_DIGEST_CALLERS  callers running rounds at once [2]
#   BENCH_OUT          results file [bench/results.md]
#   BENCH_SPIN_ARGS    more arguments for every `spin up` (e.g. --max-instance-reuse-count 1000)
#   BENCH_SPIN_ENV     environment for every `spin up`, as NAME=VALUE words [MALLOC_ARENA_MAX=2,
#                      as `make up` runs it; BENCH_SPIN_ENV= runs the host with glibc's defaults]
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
db_timeout_ms="${BENCH_DB_TIMEOUT_MS:-2000}"
soak="${BENCH_SOAK:-600s}"
soak_interval="${BENCH_SOAK_INTERVAL:-30}"
soak_apps="${BENCH_SOAK_APPS:-app floor}"
spin_env="${BENCH_SPIN_ENV-MALLOC_ARENA_MAX=2}"
api_load_limit=10000

log() { echo "bench: $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

[[ "$users" =~ ^[0-9]+$ && "$users" -ge 10 ]] || die "BENCH_USERS must be a whole number >= 10"
[[ "$db_timeout_ms" =~ ^[0-9]+$ && "$db_timeout_ms" -ge 1 ]] || die "BENCH_DB_TIMEOUT_MS must be a whole number >= 1"
[[ "$soak_interval" =~ ^[0-9]+$ && "$soak_interval" -ge 1 ]] || die "BENCH_SOAK_INTERVAL must be a whole number of seconds >= 1"
# The soak's length in seconds (wrk's suffixes s, m, h; none means seconds).
soak_seconds() {
    local value="$1"
    case "$value" in
        *h) echo $(( ${value%h} * 3600 )) ;;
        *m) echo $(( ${value%m} * 60 )) ;;
        *s) echo "${value%s}" ;;
        *) echo "$value" ;;
    esac
}
[[ "$(soak_seconds "$soak")" =~ ^[0-9]+$ ]] || die "BENCH_SOAK must be a duration such as 600s or 10m"
selected() { [[ -z "${BENCH_SCENARIOS:-}" || " $BENCH_SCENARIOS " == *" $1 "* ]]; }

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
cargo build -q --target wasm32-wasip2 --release -p keemu-health -p keemu-api -p keemu-ingest -p keemu-mail
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

# The apps: the project, the floor, and the bounded floor (the floor's component with
# db_timeout_ms set: bench/floor/src/lib.rs).
declare -A manifest=([app]=spin.toml [floor]=bench/floor/spin.toml [floor_bounded]=bench/floor/spin.toml)
declare -A extra=([app]="db_timeout_ms=$db_timeout_ms" [floor]="" [floor_bounded]="db_timeout_ms=$db_timeout_ms")
declare -A addr=([app]="127.0.0.1:$(free_port)" [floor]="127.0.0.1:$(free_port)" [floor_bounded]="127.0.0.1:$(free_port)")
declare -A ready=([app]=/health [floor]="/api/v1/users?limit=1" [floor_bounded]="/api/v1/users?limit=1")
declare -A group=()
label() { case "$1" in app) echo project ;; floor) echo floor ;; floor_bounded) echo "bounded floor" ;; esac; }

# Starts `spin up` in a process group of its own (it runs `spin trigger http` as a child that
# holds the port), with its state and logs under $tmp.
start_spin() {
    local name="$1" vars=()
    mkdir -p "$tmp/$name"
    [[ -n "${extra[$name]}" ]] && vars=(--variable "${extra[$name]}")
    env $spin_env setsid "$spin_bin" up -f "${manifest[$name]}" --listen "${addr[$name]}" \
        --state-dir "$tmp/$name/state" --log-dir "$tmp/$name/logs" \
        --variable "database_url=$db_url" --variable "db_host=$db_host" \
        --variable "api_token=$token" "${vars[@]}" ${BENCH_SPIN_ARGS:-} \
        >>"$tmp/$name/spin.out" 2>&1 &
    pids+=("$!")
    group[$name]="$!"
}

# Stops an app's `spin up` and its `spin trigger http`.
stop_spin() {
    local pid="${group[$1]}"
    kill -TERM -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# The pid of an app's `spin trigger http` (the child of `spin up` that serves).
trigger_pid() {
    local child
    for child in $(pgrep -g "${group[$1]}" 2>/dev/null); do
        if tr '\0' ' ' <"/proc/$child/cmdline" 2>/dev/null | grep -q 'trigger http'; then
            echo "$child"; return
        fi
    done
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

apps=(app floor floor_bounded)
for name in "${apps[@]}"; do start_spin "$name"; done
for name in "${apps[@]}"; do wait_ready "$name" "http://${addr[$name]}${ready[$name]}"; done
app="${addr[app]}"
log "project on http://$app, floor on http://${addr[floor]}, bounded floor on http://${addr[floor_bounded]}, database $db_host"

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

# Same body (as JSON: key order may differ) and ETag from the project and the floors, or the
# comparison means nothing.
same_json() {
    python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' "$1" "$2"
}
same_contract="yes"
for path in "/api/v1/users/$id_min" "/api/v1/users?limit=20" "/api/v1/users?limit=20&after=$deep_after"; do
    for target in "${apps[@]}"; do
        curl -s -D "$tmp/$target.headers" -o "$tmp/$target.body" \
            -H "Authorization: Bearer $token" "http://${addr[$target]}$path"
        grep -i -E '^(etag|content-type|cache-control):' "$tmp/$target.headers" \
            | tr -d '\r' | tr 'A-Z' 'a-z' | sort >"$tmp/$target.h"
    done
    for target in floor floor_bounded; do
        if ! same_json "$tmp/app.body" "$tmp/$target.body" || ! cmp -s "$tmp/app.h" "$tmp/$target.h"; then
            same_contract="NO (the $(label "$target") differs at $path)"
            log "WARNING: the project and the $(label "$target") answer $path differently"
            cp "$tmp/$target.body" "$tmp/floor.body"
        fi
    done
done
# A floor that serves something else measures nothing: stop before the scenarios.
if [[ "$same_contract" != yes ]]; then
    log "FAIL: the project and the floor do not serve the same contract ($same_contract)"
    log "project: $(cat "$tmp/app.body" | head -c 300)"
    log "floor:   $(cat "$tmp/floor.body" | head -c 300)"
    exit 1
fi

# --- scenarios ---------------------------------------------------------------------------

# name | wrk kind | path (plain) | compared with the floors
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
    local name="$1" target="$2" round="$3" kind="$4" path="$5" addr="${addr[$2]}" line
    log "$name ($(label "$target"), round $round): warm-up $warmup, then $duration"
    run_wrk "$addr" "$kind" "$path" "$warmup" "w$RANDOM$SECONDS" >/dev/null
    line="$(run_wrk "$addr" "$kind" "$path" "$duration" "m$RANDOM$SECONDS" | grep '^BENCH_RESULT' || true)"
    [[ -n "$line" ]] || die "wrk printed no result for $name ($target)"
    echo "$name $target $round ${line#BENCH_RESULT }" >>"$results"
}

# The machine drifts (other tenants, caches, the database's own state): a scenario compared
# with the floors runs $rounds times for each app, the three taking turns to go first, so
# none always runs on the warmer or the quieter side.
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
for entry in "${scenarios[@]}"; do
    IFS='|' read -r name kind path compared <<<"$entry"
    selected "$name" || continue
    if [[ "$compared" == no ]]; then
        measure "$name" app 1 "$kind" "$path"
        continue
    fi
    for round in $(seq 1 "$rounds"); do
        order=("${apps[@]:$(( (round - 1) % 3 ))}" "${apps[@]:0:$(( (round - 1) % 3 ))}")
        for target in "${order[@]}"; do measure "$name" "$target" "$round" "$kind" "$path"; done
    done
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- digests: digests built per second -------------------------------------------------

# Issue 19: $digest_users users (daily digests, time zones and lengths mixed), each following
# $digest_subs of $digest_sources sources, with $digest_items items spread over the last 30
# days, loaded by SQL. Every other user's schedule is moved a year past as_of, so the rounds
# claim only these. Then $digest_callers callers run POST /internal/digests?limit=...&as_of=
# (as_of: now, so every user is due) in a loop, each until a round claims nobody. Appends
# one line per round to $digest_rounds: "status curl_seconds body".
digest_users="${BENCH_DIGEST_USERS:-10000}"
digest_subs="${BENCH_DIGEST_SUBSCRIPTIONS:-20}"
digest_sources="${BENCH_DIGEST_SOURCES:-2000}"
digest_items="${BENCH_DIGEST_ITEMS:-1000000}"
digest_limit="${BENCH_DIGEST_LIMIT:-100}"
digest_callers="${BENCH_DIGEST_CALLERS:-2}"
digest_rounds="$tmp/digest-rounds.txt"
digest_report="not run (\`make bench-digests\`, or BENCH_SCENARIOS naming digests)"
digest_intro=""
# Not in the default set (a few minutes of loading and rounds): only when named.
if [[ " ${BENCH_SCENARIOS:-} " == *" digests "* ]]; then
    for v in digest_users digest_subs digest_sources digest_items digest_limit digest_callers; do
        [[ "${!v}" =~ ^[0-9]+$ && "${!v}" -ge 1 ]] || die "BENCH_DIGEST_*: $v must be a whole number >= 1"
    done
    (( digest_subs <= digest_sources )) || die "BENCH_DIGEST_SUBSCRIPTIONS must not exceed BENCH_DIGEST_SOURCES"
    (( digest_limit <= 500 )) || die "BENCH_DIGEST_LIMIT must be at most 500 (the route's bound)"
    per_source=$(( (digest_items + digest_sources - 1) / digest_sources ))
    # Subscriptions: user i follows sources (i * 7 + k * step) mod sources, k < subs: all
    # distinct as long as subs * step <= sources.
    step=$(( digest_sources / digest_subs ))
    log "digests: loading $digest_users users x $digest_subs subscriptions over $digest_sources sources, $digest_items items, by SQL"
    load_started="$SECONDS"
    psql_db <<SQL
-- The users' inserts fire the trigger that gives each a digest schedule (due_at NULL).
INSERT INTO users (email, name, profile_picture, profession, date_of_birth, timezone)
    SELECT 'digest' || g || '@digests.example.com', 'Digest User ' || g,
           'https://example.com/d/' || g || '.png', 'Engineer', DATE '1990-05-17',
           (ARRAY['UTC', 'Europe/London', 'America/New_York', 'Asia/Tokyo',
                  'Australia/Sydney', 'America/Los_Angeles', 'Asia/Kolkata',
                  'Europe/Berlin'])[1 + g % 8]
    FROM generate_series(1, $digest_users) AS g;
INSERT INTO user_preferences (user_id, update_frequency, summary_length)
    SELECT id, 'daily', (ARRAY['concise', 'standard', 'detailed'])[1 + id % 3]
    FROM users WHERE email LIKE '%@digests.example.com';
SET session_replication_role = replica;  -- skip the foreign-key checks: rows are right by construction
INSERT INTO content_sources (kind, identifier, title, feed_url)
    SELECT 'blog', 'https://blog' || g || '.example.com/feed.xml', 'Blog ' || g,
           'https://blog' || g || '.example.com/feed.xml'
    FROM generate_series(1, $digest_sources) AS g;
INSERT INTO user_subscriptions (user_id, source_id, created_at, updated_at)
    SELECT u.id, s.first + (((row_number() OVER (ORDER BY u.id))::bigint * 7 + k * $step) % $digest_sources),
           now() - interval '60 days', now() - interval '60 days'
    FROM users u,
         (SELECT min(id) AS first FROM content_sources WHERE kind = 'blog' AND title LIKE 'Blog %') s,
         generate_series(0, $digest_subs - 1) AS k
    WHERE u.email LIKE '%@digests.example.com';
-- $per_source items per source, one every 30 days / $per_source, newest a few minutes old.
INSERT INTO content_items (source_id, external_id, title, url, author, published_at, summary)
    SELECT s.id, 'post-' || g,
           'Post ' || g || ' of blog ' || s.id || ': what changed this week and why it matters',
           'https://blog' || s.id || '.example.com/posts/' || g, 'Author ' || (g % 50),
           now() - (g - 1) * (interval '30 days' / $per_source) - (s.id % 600) * interval '1 second',
           substr(repeat('This week in topic ' || (g % 97) || ' the team shipped changes to the '
                         || 'build, fixed bugs reported by readers, and wrote about what comes next. ', 4), 1, 300)
    FROM content_sources s, generate_series(1, $per_source) AS g
    WHERE s.kind = 'blog' AND s.title LIKE 'Blog %'
    LIMIT $digest_items;
SET session_replication_role = DEFAULT;
ANALYZE users; ANALYZE user_preferences; ANALYZE digest_schedules; ANALYZE content_sources;
ANALYZE user_subscriptions; ANALYZE content_items;
SQL
    digest_load_seconds=$(( SECONDS - load_started ))
    as_of="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    psql_db -c "UPDATE digest_schedules ds SET due_at = timestamptz '$as_of' + interval '1 year'
                FROM users u WHERE u.id = ds.user_id AND u.email NOT LIKE '%@digests.example.com'" >/dev/null
    read -r n_users n_subs n_items < <(psql_db -tA -F ' ' -c "SELECT
        (SELECT count(*) FROM users WHERE email LIKE '%@digests.example.com'),
        (SELECT count(*) FROM user_subscriptions us JOIN users u ON u.id = us.user_id
            WHERE u.email LIKE '%@digests.example.com'),
        (SELECT count(*) FROM content_items)")
    log "digests: loaded in ${digest_load_seconds} s: $n_users users, $n_subs subscriptions, $n_items items; as_of $as_of"
    : >"$digest_rounds"
    digest_caller() {
        local out="$1" answer status body claimed
        while true; do
            answer="$(curl -s -m 900 -w '\n%{http_code} %{time_total}' -X POST \
                -H "Authorization: Bearer $token" \
                "http://$app/internal/digests?limit=$digest_limit&as_of=$as_of" || true)"
            body="$(head -n 1 <<<"$answer")"
            status="$(tail -n 1 <<<"$answer")"
            echo "$status $body" >>"$out"
            [[ "$status" == 200\ * ]] || return 0
            claimed="$(grep -o '"claimed":[0-9]*' <<<"$body" | cut -d: -f2)"
            [[ "${claimed:-0}" -gt 0 ]] || return 0
        done
    }
    digest_load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
    log "digests: $digest_callers callers, limit=$digest_limit, until a round claims nobody"
    started_ns="$(date +%s%N)"
    caller_pids=()
    for c in $(seq 1 "$digest_callers"); do
        digest_caller "$tmp/digest-caller-$c.txt" &
        caller_pids+=("$!")
    done
    for pid in "${caller_pids[@]}"; do wait "$pid"; done
    wall_ms=$(( ($(date +%s%N) - started_ns) / 1000000 ))
    digest_load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
    cat "$tmp"/digest-caller-*.txt >"$digest_rounds"
    read -r d_digests d_users d_built d_skipped d_items d_others < <(psql_db -tA -F ' ' -c "SELECT
        count(*), count(DISTINCT d.user_id), count(*) FILTER (WHERE d.status = 'built'),
        count(*) FILTER (WHERE d.status = 'skipped'),
        (SELECT count(*) FROM digest_items),
        (SELECT count(*) FROM digests d2 JOIN users u2 ON u2.id = d2.user_id
            WHERE u2.email NOT LIKE '%@digests.example.com')
        FROM digests d JOIN users u ON u.id = d.user_id
        WHERE u.email LIKE '%@digests.example.com'")
    digest_report="$(python3 - "$digest_rounds" "$wall_ms" "$digest_users" "$d_digests" "$d_users" \
        "$d_built" "$d_skipped" "$d_items" "$d_others" <<'PY'
import json, sys
path, wall_ms, users, digests, distinct, built_rows, skipped_rows, items, others = sys.argv[1:]
wall = int(wall_ms) / 1000
rounds, bad, server_ms, curl_s = [], [], [], []
for line in open(path):
    code, seconds, body = (line.rstrip("\n").split(" ", 2) + ["", ""])[:3]
    if code != "200":
        bad.append(f"{code} {body[:200]}")
        continue
    r = json.loads(body)
    rounds.append(r)
    curl_s.append(float(seconds))
    server_ms.append(r["duration_ms"])
total = {k: sum(r.get(k, 0) for r in rounds) for k in
         ("claimed", "built", "skipped", "not_due", "existed", "failed")}
working = [r for r in rounds if r["claimed"] > 0]
def pct(values, p):
    values = sorted(values)
    if not values:
        return 0
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))]
work_ms = [r["duration_ms"] for r in working]
written = total["built"] + total["skipped"]
ok = (int(digests) == int(users) and int(distinct) == int(users) and total["failed"] == 0
      and not bad and int(others) == 0 and written == int(users))
print("| digests written | per second (wall) | wall s | rounds (claiming) | claimed | built | skipped | not due | existed | failed | round p50 ms | round p99 ms | round max ms |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
print(f"| {written} | {written / wall:.0f} | {wall:.1f} | {len(rounds)} ({len(working)}) | {total['claimed']} "
      f"| {total['built']} | {total['skipped']} | {total['not_due']} | {total['existed']} | {total['failed']} "
      f"| {pct(work_ms, 50)} | {pct(work_ms, 99)} | {max(work_ms) if work_ms else 0} |")
print()
print(f"In the database: {digests} digests of these users ({distinct} distinct users: "
      f"{'none duplicate' if digests == distinct else 'DUPLICATES'}), {built_rows} built and "
      f"{skipped_rows} skipped, {items} digest items ({int(items) / max(1, int(built_rows)):.1f} a built digest); "
      f"digests of other users: {others}. Non-200 rounds: {len(bad)}"
      + (": " + "; ".join(bad[:3]) if bad else "") + ".")
print()
print("Correct (one digest per user, none failed, none duplicate, every round 200): "
      + ("yes" if ok else "NO"))
PY
)"
    digest_intro="$(cat <<EOF2
Digests built per second under Spin (issue 19): $digest_users users by SQL (daily digests; 8
time zones; concise, standard and detailed in turn), each following $digest_subs of $digest_sources
sources (followed 60 days ago), $digest_items items over the last 30 days (titles, URLs, 300-character
summaries); every other user's schedule moved past as_of. $digest_callers callers run
\`POST /internal/digests?limit=$digest_limit&as_of=<the load's end>\` (no overview: \`digest_overview\`
unset) each until a round claims nobody; the wall time runs from the first round's start to
the last one's end. Round p50/p99/max: the rounds' own \`duration_ms\`, rounds that claimed
someone. Loading the rows took ${digest_load_seconds:-0} s. Load average (1/5/15 min) before the rounds: ${digest_load_start:-}; after: ${digest_load_end:-}.
EOF2
)"$'\n\n'
    printf '%s\n' "$digest_report" >&2
fi

# --- the bound on a hung database --------------------------------------------------------

# Every PostgreSQL process stopped (SIGSTOP: connections stay open, nothing answers), one GET
# user to each app, then the database resumed. The project and the bounded floor must answer
# 503 within db_timeout_ms (plus the project's probe and scheduling); the floor waits until
# curl gives up (db_timeout_ms + 3 s).
hung="not run (BENCH_SCENARIOS)"
if selected hung_db; then
    postmaster="$(head -n 1 "$tmp/db/postmaster.pid")"
    pg_pids=("$postmaster" $(pgrep -P "$postmaster"))
    limit="$(awk -v ms="$db_timeout_ms" 'BEGIN { printf "%.1f", ms / 1000 + 3 }')"
    log "the database hangs (SIGSTOP to ${#pg_pids[@]} processes): one GET user to each app, curl gives up at ${limit} s"
    kill -STOP "${pg_pids[@]}"
    hung=""
    for target in "${apps[@]}"; do
        answer="$(curl -s -o /dev/null -m "$limit" -w '%{http_code} %{time_total}' \
            -H "Authorization: Bearer $token" "http://${addr[$target]}/api/v1/users/$id_min" || true)"
        read -r code seconds <<<"$answer"
        [[ "$code" == "000" ]] && code="none (curl gave up)"
        hung+="$(printf '| %s | %s | %.2f |' "$(label "$target")" "$code" "$seconds")"$'\n'
    done
    kill -CONT "${pg_pids[@]}"
    sleep 1
fi

# --- soak: memory under sustained load ---------------------------------------------------

# Each app in $soak_apps, freshly started, serves GET user (wrk, as get_user) for $soak with
# nothing else running; the resident memory (VmRSS) of its `spin trigger http` process is
# sampled every $soak_interval s. Appends "target seconds rss_kb" to $soak_file and the wrk
# result line to $soak_results.
soak_file="$tmp/soak.txt"
soak_results="$tmp/soak-results.txt"
: >"$soak_file"
: >"$soak_results"
if selected soak && [[ "$(soak_seconds "$soak")" -gt 0 ]]; then
    for target in $soak_apps; do
        [[ -n "${manifest[$target]:-}" ]] || die "BENCH_SOAK_APPS: unknown app $target"
        stop_spin "$target"
        start_spin "$target"
        wait_ready "$target" "http://${addr[$target]}${ready[$target]}"
        pid="$(trigger_pid "$target")"
        [[ -n "$pid" ]] || die "no spin trigger http process for the $(label "$target")"
        log "soak ($(label "$target")): GET user for $soak, RSS of pid $pid every $soak_interval s"
        run_wrk "${addr[$target]}" get_user "" "$soak" "s$RANDOM$SECONDS" >"$tmp/soak-wrk.out" &
        wrk_pid="$!"
        started="$SECONDS"
        while kill -0 "$wrk_pid" 2>/dev/null; do
            rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)"
            [[ -n "$rss" ]] && echo "$target $(( SECONDS - started )) $rss" >>"$soak_file"
            for _ in $(seq 1 "$soak_interval"); do
                kill -0 "$wrk_pid" 2>/dev/null || break
                sleep 1
            done
        done
        wait "$wrk_pid" || die "wrk failed in the soak ($(label "$target"))"
        rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)"
        echo "$target $(( SECONDS - started )) $rss" >>"$soak_file"
        line="$(grep '^BENCH_RESULT' "$tmp/soak-wrk.out" || true)"
        echo "$target ${line#BENCH_RESULT }" >>"$soak_results"
    done
fi

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
            printf "| %s | %s | %d | %.0f | %.2f | %.2f | %d | %d | %d |\n", part[1], (part[2] == "app" ? "project" : (part[2] == "floor" ? "floor" : "bounded floor")),
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
        print "| scenario | against | project req/s ÷ floor req/s: median of the rounds | rounds, min to max | all rounds together | project p50 ÷ floor p50 | project p99 ÷ floor p99 |"
        print "|---|---|---:|---:|---:|---:|---:|"
        m = split("get_user list list_deep", names, " ")
        split("floor_bounded floor", floors, " ")
        for (i = 1; i <= m; i++) {
            s = names[i]
            for (fi = 1; fi <= 2; fi++) {
                f = floors[fi]
                if (!(n[s, "app"] && n[s, f] && us[s, f] > 0 && p50[s, f] > 0 && p99[s, f] > 0)) continue
                k = 0
                for (r = 1; r <= rounds[s]; r++) {
                    if (!((s, "app", r) in round_rps) || !((s, f, r) in round_rps) || round_rps[s, f, r] <= 0) continue
                    x = round_rps[s, "app", r] / round_rps[s, f, r]
                    # insertion into the sorted list ratio[1..k]
                    for (j = k; j >= 1 && ratio[j] > x; j--) ratio[j + 1] = ratio[j]
                    ratio[j + 1] = x; k++
                }
                if (k == 0) continue
                median = (k % 2 == 1) ? ratio[(k + 1) / 2] : (ratio[k / 2] + ratio[k / 2 + 1]) / 2
                printf "| %s | %s | %.2f | %.2f to %.2f | %.2f | %.2f | %.2f |\n", s,
                    (f == "floor" ? "floor (no bound)" : "bounded floor (same bound)"), median, ratio[1], ratio[k],
                    rps(s, "app") / rps(s, f),
                    (p50[s, "app"] / n[s, "app"]) / (p50[s, f] / n[s, f]),
                    (p99[s, "app"] / n[s, "app"]) / (p99[s, f] / n[s, f])
            }
        }
        print ""
        print "| app | list_deep req/s ÷ list req/s | list_deep p50 ÷ list p50 |"
        print "|---|---:|---:|"
        split("app floor floor_bounded", apps, " ")
        for (i = 1; i <= 3; i++) {
            a = apps[i]
            if (n["list", a] && n["list_deep", a] && us["list", a] > 0 && p50["list", a] > 0)
                printf "| %s | %.2f | %.2f |\n", (a == "app" ? "project" : (a == "floor" ? "floor" : "bounded floor")), rps("list_deep", a) / rps("list", a),
                    (p50["list_deep", a] / n["list_deep", a]) / (p50["list", a] / n["list", a])
        }
    }' "$results")"

# The soak: one column of RSS per app, sample by sample (the n-th samples of each app were
# taken the same number of seconds into its run, give or take a second), then per app the
# growth over the second half.
soak_report="not run (BENCH_SOAK=0 or BENCH_SCENARIOS without soak)"
if [[ -s "$soak_file" ]]; then
    soak_report="$(awk -v apps="$soak_apps" '
        function name(a) { return a == "app" ? "project" : (a == "floor" ? "floor" : "bounded floor") }
        FNR == NR { i = ++count[$1]; t[$1, i] = $2; rss[$1, i] = $3 / 1024; next }
        {
            for (f = 2; f <= NF; f++) { split($f, kv, "="); r[$1, kv[1]] = kv[2] }
        }
        END {
            m = split(apps, a, " ")
            header = "| seconds |"; rule = "|---:|"
            for (j = 1; j <= m; j++) { header = header " " name(a[j]) " RSS MB |"; rule = rule "---:|" }
            print header; print rule
            rows = 0
            for (j = 1; j <= m; j++) if (count[a[j]] > rows) rows = count[a[j]]
            for (i = 1; i <= rows; i++) {
                line = "| " t[a[1], i] " |"
                for (j = 1; j <= m; j++) line = line ((a[j], i) in rss ? sprintf(" %.0f |", rss[a[j], i]) : " |")
                print line
            }
            print ""
            print "| app | requests | req/s | non-2xx | socket errors | RSS at the first sample MB | at half time MB | at the end MB | growth over the second half, MB per minute |"
            print "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
            for (j = 1; j <= m; j++) {
                x = a[j]; n = count[x]
                if (n < 2) continue
                h = int((n + 1) / 2)
                span = t[x, n] - t[x, h]
                slope = span > 0 ? (rss[x, n] - rss[x, h]) / span * 60 : 0
                printf "| %s | %d | %.0f | %d | %d | %.0f | %.0f | %.0f | %.1f |\n", name(x), r[x, "requests"],
                    (r[x, "duration_us"] > 0 ? r[x, "requests"] / (r[x, "duration_us"] / 1e6) : 0),
                    r[x, "status_errors"], r[x, "socket_errors"], rss[x, 1], rss[x, h], rss[x, n], slope
            }
        }' "$soak_file" "$soak_results")"
fi
hung_report="not run (BENCH_SCENARIOS without hung_db)"
if [[ -n "$hung" && "$hung" != not* ]]; then
    hung_report="$(printf '| app | status | seconds |\n|---|---|---:|\n%s' "$hung")"
fi

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
  get_user, list and list_deep: $rounds rounds each for the project and the two floors, taking
  turns to go first
- data: $count users loaded $load_method; list_deep is \`?limit=20&after=$deep_after\`
- db_timeout_ms of the project and the bounded floor: $db_timeout_ms
- every \`spin up\` (project and floors) ran with the environment: ${spin_env:-(none: glibc defaults)}${BENCH_SPIN_ARGS:+; and the arguments $BENCH_SPIN_ARGS}
- project and floors answer GET user and both lists with the same bodies and headers: $same_contract

req/s over all of a scenario's rounds; p50/p99 are wrk's latency percentiles, averaged over the
rounds; non-2xx counts answers with
status 400 or above (wrk's count; no scenario expects a redirect); socket errors are connect,
read, write and timeout errors. The floor (bench/floor) is the thinnest component serving the
same GET user and list contract; it has no /health, POST or PATCH. The bounded floor is the
same component with \`db_timeout_ms\` set: it races each statement against that deadline with
the project's own deadline watcher, so it gives the project's guarantee (an answer within
\`db_timeout_ms\` when the database hangs) at the least cost known; the floor gives none.

$table

Project against the floors (same run, same database). Each round runs the project and the
floors one right after the other, so the ratio of a round compares runs under nearly the
same conditions; the median of the rounds is the least moved by a disturbed run (other
tenants of the machine), and the ratio of all rounds together is given beside it. The ratio
against the bounded floor compares equal guarantees; the one against the floor includes the
price of the bound.

$ratios

## Digests

$digest_intro$digest_report

## The bound on a hung database

Every PostgreSQL process stopped (SIGSTOP), one GET user to each app (curl gives up after
db_timeout_ms + 3 s), then the database resumed.

$hung_report

## Soak: memory under sustained load

Each app, freshly started, serves GET user (wrk, as get_user) for $soak alone; the resident
memory (VmRSS) of its \`spin trigger http\` process is sampled every $soak_interval s.

$soak_report
EOF
)"

mkdir -p "$(dirname "$out")"
printf '%s\n' "$report" >"$out"
printf '%s\n' "$report"
log "written to $out"
