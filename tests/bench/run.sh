#!/usr/bin/env bash
# The spa-auth benchmark, on demand (not part of the test suite): SQLite and PostgreSQL side by
# side, release build, wrk. Writes tests/bench/RESULTS.md and prints the table.
#
#   tests/bench/run.sh
#   BENCH_ONLY=timing tests/bench/run.sh     # only the failed-login timing (its section of RESULTS.md)
#   BENCH_ONLY=throughput tests/bench/run.sh # everything but the timing (which keeps its last run)
#
# Environment: SPA_AUTH_TEST_PG (PostgreSQL server to create a fresh database on; default
# postgres://postgres@127.0.0.1:5432/test), BENCH_DURATION (each wrk run; default 8s),
# BENCH_SESSIONS (live sessions for /api/me; default 10000), BENCH_TIMING_N (failed logins per
# class in the timing run; default 50), BENCH_TIMING_BEFORE (another spa-auth binary, e.g. a
# release build of an older commit, measured the same way in the same run, as "before"; build it
# with its own CARGO_TARGET_DIR, since cargo takes a copy of this workspace built elsewhere into
# the same target directory as fresh) and BENCH_TIMING_BEFORE_LABEL (its name in the report).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export BENCH_DIR="$ROOT/tests/bench"
PG="${SPA_AUTH_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}"
D="${BENCH_DURATION:-8s}"
SHORT="${BENCH_SHORT_DURATION:-4s}"
N_SESSIONS="${BENCH_SESSIONS:-10000}"
TIMING_N="${BENCH_TIMING_N:-50}"
ONLY="${BENCH_ONLY:-}"
BEFORE_BIN="${BENCH_TIMING_BEFORE:-}"
CORES=$(nproc)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

step() { printf '\n=== %s\n' "$*" >&2; }

if [ "$ONLY" != timing ] && ! command -v wrk >/dev/null; then
  step "installing wrk"
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
step "building the release binary"
# The ceiling: a bare app on the same poem (tests/bench/ceiling), measured in the same rounds.
cargo build --release -p spa-auth -p spa-auth-bench-ceiling --bin spa-auth --bin bench-ceiling
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/spa-auth"
CEILING_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/bench-ceiling"

WORK=$(mktemp -d)
RES="$WORK/results"
PGDB="spa_auth_bench_$$_$RANDOM"
SERVER_PID=""
CEILING_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  [ -n "$CEILING_PID" ] && kill "$CEILING_PID" 2>/dev/null && wait "$CEILING_PID" 2>/dev/null
  psql "$PG" -qAtc "drop database if exists \"$PGDB\" with (force)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# Settings from the caller's environment must not change what is measured.
for v in $(env | grep -oE '^(SPA_AUTH_[A-Z0-9_]*|DATABASE_URL)=' | tr -d =); do unset "$v"; done

put() { echo "$1=$2" >>"$RES"; }
LOW=(--argon2-memory-kib 8 --argon2-iterations 1)
# The login runs send every attempt for one account from one address, as no real crowd does:
# with the default limits the throttle would refuse all but the first few at once (each
# attempt holds its slot until it is decided). Out of reach here, so that they measure hashing.
UNTHROTTLED=(--throttle-per-pair 100000000 --throttle-per-ip 100000000 --throttle-per-account 100000000)

# wait_port NAME PID: the port the server NAME announced on its stderr ($WORK/NAME.err), as URL
wait_port() {
  local name=$1 pid=$2
  for _ in $(seq 300); do
    local port
    port=$(grep -oE 'listening on http://localhost:[0-9]+' "$WORK/$name.err" | grep -oE '[0-9]+$' || true)
    if [ -n "$port" ]; then URL="http://127.0.0.1:$port"; return; fi
    kill -0 "$pid" 2>/dev/null || { cat "$WORK/$name.err" >&2; exit 1; }
    sleep 0.1
  done
  echo "$name did not start" >&2; exit 1
}
# start NAME DATABASE_URL [serve flags...]: sets SERVER_PID and URL; runs $SERVE_BIN if set
start() {
  local name=$1 db=$2
  shift 2
  "${SERVE_BIN:-$BIN}" serve --bind 127.0.0.1:0 --database-url "$db" "$@" >/dev/null 2>"$WORK/$name.err" &
  SERVER_PID=$!
  wait_port "$name" "$SERVER_PID"
}
stop() {
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""
}
rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
# wrk_run NAME URL [wrk args...]: the RESULT line's fields become NAME_field lines
wrk_run() {
  local name=$1 url=$2
  shift 2
  local out
  out=$(wrk "$@" "$url")
  echo "$out" | grep -E 'Requests/sec|Non-2xx|Socket errors' >&2 || true
  echo "$out" | grep '^RESULT' | tr ' ' '\n' | grep = | sed "s/^/$name.$B./" >>"$RES"
}
json_put() { # json_put PREFIX JSON: flat numeric fields
  python3 -c 'import json,sys
p=sys.argv[1]; d=json.loads(sys.argv[2])
for k,v in d.items():
    print(p + "." + k + "=" + json.dumps(v).replace(" ", ""))' "$1" "$2" >>"$RES"
}

bench_backend() {
  B=$1
  local db=$2
  step "$B: users"
  printf 'correct horse battery\n' | "$BIN" user create fast --email fast@example.com --database-url "$db" "${LOW[@]}" >/dev/null
  printf 'correct horse battery\n' | "$BIN" user create bench --email bench@example.com --database-url "$db" >/dev/null
  export BASIC COOKIES="$WORK/$B.cookies"
  BASIC=$(printf 'bench:correct horse battery' | base64 -w0)

  step "$B: $N_SESSIONS live sessions (server with cheap argon2 parameters)"
  start "$B-cheap" "$db" "${LOW[@]}"
  local t0=$SECONDS
  json_put "sessions.$B" "$(python3 "$BENCH_DIR/bench.py" sessions "$URL" fast 'correct horse battery' "$N_SESSIONS" 16 "$COOKIES")"
  echo "  took $((SECONDS - t0)) s" >&2
  json_put "warm.$B" "$(python3 "$BENCH_DIR/bench.py" warm "$URL" "$COOKIES" 16)" # every session cached
  wrk -t2 -c64 -d2s -s "$BENCH_DIR/me.lua" "$URL" >/dev/null
  "$CEILING_BIN" 127.0.0.1:0 2>"$WORK/$B-ceiling.err" &
  CEILING_PID=$!
  local app_url=$URL
  wait_port "$B-ceiling" "$CEILING_PID"
  local ceiling_url=$URL
  URL=$app_url
  wrk -t2 -c64 -d1s "$ceiling_url/healthz" >/dev/null
  # Alternated, three rounds each, so that other load on the machine hits them all alike; the
  # report takes the mean of the rounds. The ceiling's rounds are the reference of the ratios.
  for round in 1 2 3; do
    step "$B: bare poem ceiling, GET /healthz (round $round)"
    wrk_run ceiling "$ceiling_url/healthz" -t2 -c64 -d"$SHORT" -s "$BENCH_DIR/summary.lua"
    step "$B: GET /healthz (round $round)"
    wrk_run healthz "$URL/healthz" -t2 -c64 -d"$SHORT" -s "$BENCH_DIR/summary.lua"
    step "$B: GET /api/me over $N_SESSIONS sessions (round $round)"
    wrk_run me "$URL" -t2 -c64 -d"$SHORT" -s "$BENCH_DIR/me.lua"
    step "$B: GET /api/auth/verify over $N_SESSIONS sessions (round $round)"
    BENCH_PATH=/api/auth/verify wrk_run verify "$URL" -t2 -c64 -d"$SHORT" -s "$BENCH_DIR/me.lua"
  done
  kill -TERM "$CEILING_PID"; wait "$CEILING_PID" || true; CEILING_PID=""
  stop

  step "$B: logins with the default (OWASP) argon2 parameters"
  start "$B-owasp" "$db" "${UNTHROTTLED[@]}"
  # The time of one hash, measured just before and just after the throughput run (other work
  # on this machine moves it); the bound uses the mean of the two medians.
  json_put "seqlogin1.$B" "$(python3 "$BENCH_DIR/bench.py" seqlogin "$URL" bench 'correct horse battery' 15)"
  wrk_run login "$URL/api/auth/login" -t2 -c8 -d"$D" -s "$BENCH_DIR/login.lua"
  json_put "seqlogin2.$B" "$(python3 "$BENCH_DIR/bench.py" seqlogin "$URL" bench 'correct horse battery' 15)"
  step "$B: /api/me latency, quiet and under a login flood"
  json_put "quiet.$B" "$(python3 "$BENCH_DIR/bench.py" probe "$URL" "$COOKIES" 5)"
  wrk -t2 -c64 -d8s -s "$BENCH_DIR/login.lua" "$URL/api/auth/login" >"$WORK/flood.out" &
  local flood=$!
  sleep 1.5
  json_put "flooded.$B" "$(python3 "$BENCH_DIR/bench.py" probe "$URL" "$COOKIES" 5)"
  wait "$flood"
  grep -E 'Requests/sec|Non-2xx' "$WORK/flood.out" >&2 || true
  stop

  step "$B: memory under 1,000 concurrent logins (fresh server)"
  start "$B-rss" "$db" "${UNTHROTTLED[@]}"
  python3 "$BENCH_DIR/bench.py" seqlogin "$URL" bench 'correct horse battery' 3 >/dev/null
  curl -fsS -o /dev/null -H "Cookie: __Host-session=$(head -1 "$COOKIES")" "$URL/api/me"
  put "rss.$B.base_kib" "$(rss_kib "$SERVER_PID" VmRSS)"
  json_put "flood.$B" "$(python3 "$BENCH_DIR/bench.py" flood "$URL" bench 'correct horse battery' 1000)"
  put "rss.$B.peak_kib" "$(rss_kib "$SERVER_PID" VmHWM)"
  put "rss.$B.after_kib" "$(rss_kib "$SERVER_PID" VmRSS)"
  put "rss.$B.threads" "$(awk '$1 == "Threads:" {print $2}' "/proc/$SERVER_PID/status")"
  stop
}

# Failed logins of every kind against a site just imported from Django (SQLite): does the
# time of a failure tell an unknown name from a real account? bench_timing LABEL BINARY
bench_timing() {
  local label=$1 bin=$2 dir="$WORK/timing-$1"
  local db="sqlite://$dir/spa-auth.db?mode=rwc"
  mkdir -p "$dir"
  step "timing ($label): a Django site of $TIMING_N users per hasher, imported, and $TIMING_N native users"
  python3 "$BENCH_DIR/bench.py" djangodb "$dir/django.db" "$TIMING_N" >/dev/null
  "$bin" import django --from "sqlite://$dir/django.db" --database-url "$db" >/dev/null
  for i in $(seq 0 $((TIMING_N - 1))); do
    printf 'correct horse battery\n' | "$bin" user create "native$i" --email "native$i@example.com" --database-url "$db" >/dev/null
  done
  SERVE_BIN=$bin start "timing-$label" "$db" --throttle-per-pair 1000 --throttle-per-ip 1000000 --throttle-per-account 1000
  step "timing ($label): failed logins, $TIMING_N per class, shuffled together"
  json_put "timing.$label" "$(python3 "$BENCH_DIR/bench.py" failtimes "$URL" "$TIMING_N")"
  put timing.n "$TIMING_N"
  stop
}

put load.before "\"$(cut -d' ' -f1-3 /proc/loadavg)\""
if [ "$ONLY" != timing ]; then
  SQLITE_DIR="$WORK/sqlite"
  mkdir -p "$SQLITE_DIR"
  bench_backend sqlite "sqlite://$SQLITE_DIR/bench.db?mode=rwc"
  psql "$PG" -qAtc "create database \"$PGDB\"" >/dev/null
  PGURL=$(python3 -c 'import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$PG" "$PGDB")
  bench_backend postgres "$PGURL"
fi
if [ -n "$BEFORE_BIN" ] && [ "$ONLY" != throughput ]; then
  put timing.before_bin "\"${BENCH_TIMING_BEFORE_LABEL:-$BEFORE_BIN}\""
  bench_timing before "$BEFORE_BIN"
fi
[ "$ONLY" = throughput ] || bench_timing after "$BIN"
put load.after "\"$(cut -d' ' -f1-3 /proc/loadavg)\""

if [ "$ONLY" = timing ]; then
  # Only the timing section of RESULTS.md is replaced; the rest is the last full run.
  KEPT=$(sed '/^## Failed-login timing/,$d' "$BENCH_DIR/RESULTS.md")
  { printf '%s\n\n' "$KEPT"; python3 "$BENCH_DIR/report.py" "$RES" "$CORES" --timing-only; } >"$WORK/RESULTS.md"
  mv "$WORK/RESULTS.md" "$BENCH_DIR/RESULTS.md"
  sed -n '/^## Failed-login timing/,$p' "$BENCH_DIR/RESULTS.md"
elif [ "$ONLY" = throughput ]; then
  # The timing section of the last run stays as it was, below the new throughput tables.
  KEPT=$(sed -n '/^## Failed-login timing/,$p' "$BENCH_DIR/RESULTS.md")
  { python3 "$BENCH_DIR/report.py" "$RES" "$CORES"; printf '\n%s\n' "$KEPT"; } >"$WORK/RESULTS.md"
  mv "$WORK/RESULTS.md" "$BENCH_DIR/RESULTS.md"
  cat "$BENCH_DIR/RESULTS.md"
else
  python3 "$BENCH_DIR/report.py" "$RES" "$CORES" >"$BENCH_DIR/RESULTS.md"
  cat "$BENCH_DIR/RESULTS.md"
fi
