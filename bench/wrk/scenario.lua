-- One wrk scenario for bench/run.sh, chosen by environment variables:
--
--   BENCH_KIND    get_user | patch_user | post_user | plain
--   BENCH_PATH    the path for `plain` (e.g. /health, /api/v1/users?limit=20)
--   BENCH_TOKEN   bearer token (sent when set)
--   BENCH_ID_MIN, BENCH_ID_MAX   user ids to pick from (get_user, patch_user), uniformly
--   BENCH_RUN     a string unique to this wrk run (post_user: unique emails)
--
-- done() prints one machine-readable line, BENCH_RESULT key=value ..., that run.sh reads.
-- Latencies are wrk's (a closed loop: each connection sends its next request when the last
-- answer arrives).

local kind = os.getenv("BENCH_KIND") or "plain"
local plain_path = os.getenv("BENCH_PATH") or "/"
local token = os.getenv("BENCH_TOKEN") or ""
local id_min = tonumber(os.getenv("BENCH_ID_MIN") or "1")
local id_max = tonumber(os.getenv("BENCH_ID_MAX") or "1")
local run = os.getenv("BENCH_RUN") or tostring(os.time())

local threads = {}
local next_thread = 1

function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

local counter = 0
local headers = {}

function init(args)
  math.randomseed((thread_id or 0) * 7919 + os.time())
  if token ~= "" then
    headers["Authorization"] = "Bearer " .. token
  end
  if kind == "post_user" or kind == "patch_user" then
    headers["Content-Type"] = "application/json"
  end
end

local function random_id()
  return math.random(id_min, id_max)
end

function request()
  counter = counter + 1
  if kind == "get_user" then
    return wrk.format("GET", "/api/v1/users/" .. random_id(), headers)
  elseif kind == "patch_user" then
    local body = string.format('{"name":"Bench %s %d","profession":"Tester %d"}',
      run, counter, thread_id or 0)
    return wrk.format("PATCH", "/api/v1/users/" .. random_id(), headers, body)
  elseif kind == "post_user" then
    local body = string.format(
      '{"email":"bench-%s-%d-%d@example.com","name":"Bench User","timezone":"Europe/London",' ..
      '"profession":"Engineer","date_of_birth":"1990-05-17"}',
      run, thread_id or 0, counter)
    return wrk.format("POST", "/api/v1/users", headers, body)
  else
    return wrk.format("GET", plain_path, headers)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d " ..
    "socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
