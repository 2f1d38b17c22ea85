#!/usr/bin/env bash
# Instructions per `GET /healthz` of a spa-auth binary, counted by valgrind's callgrind: unlike
# wall time, the count repeats on a shared, noisy machine, so two builds can be compared to a
# percent. The binary serves N1, then (in a second run) N2 requests on one keep-alive
# connection (curl); the difference of the two totals over N2 - N1 leaves out start-up and
# shutdown. Every thread counts: the log writer's and the runtime's too. Timers that would
# fire more often under valgrind's slowness are pushed out (the invalidation poll to its 5 s
# maximum: a few polls remain, a few hundred instructions per request at most).
#
#   bash tests/bench/callgrind.sh target/release/spa-auth [N1 N2]
#   CG_PATH=/api/me bash tests/bench/callgrind.sh target/release/spa-auth
#
# With CG_PATH=/api/me (or /api/auth/verify) the requests carry the cookie of one session,
# logged in before counting starts (a user made with cheap hashing, outside valgrind).
set -euo pipefail
bin=$(realpath "$1")
n1=${2:-200}
n2=${3:-5200}
path=${CG_PATH:-/healthz}

total() {
    local n=$1 dir port pid
    dir=$(mktemp -d)
    local db="sqlite://$dir/db.sqlite?mode=rwc" cookie=()
    if [ "$path" != /healthz ]; then
        echo 'correct horse battery' | env -i PATH="$PATH" "$bin" user create --database-url "$db" \
            --argon2-memory-kib 8 --argon2-iterations 1 --email bench@example.com bench >/dev/null
    fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    env -i PATH="$PATH" HOME="$HOME" \
        DATABASE_URL="$db" SPA_AUTH_ARGON2_MEMORY_KIB=8 SPA_AUTH_ARGON2_ITERATIONS=1 SPA_AUTH_BIND="127.0.0.1:$port" \
        SPA_AUTH_INVALIDATION_POLL=5s SPA_AUTH_INVALIDATION_SAFETY_POLL=5s \
        SPA_AUTH_DECOY_REFRESH=1h SPA_AUTH_PURGE_INTERVAL=1h ${RUST_LOG:+RUST_LOG=$RUST_LOG} \
        ${SPA_AUTH_LOG_FORMAT:+SPA_AUTH_LOG_FORMAT=$SPA_AUTH_LOG_FORMAT} \
        valgrind --tool=callgrind --callgrind-out-file="$dir/out" "$bin" serve \
        >"$dir/stdout" 2>"$dir/stderr" &
    pid=$!
    for _ in $(seq 600); do
        grep -q "listening on" "$dir/stdout" "$dir/stderr" 2>/dev/null && break
        sleep 0.1
    done
    if [ "$path" != /healthz ]; then
        local token
        token=$(curl -sf -u 'bench:correct horse battery' -X POST -D - -o /dev/null \
            "http://127.0.0.1:$port/api/auth/login" | grep -oiE '__Host-session=[^;]+' | head -1)
        [ -n "$token" ] || { echo "login failed" >&2; exit 1; }
        cookie=(-H "Cookie: $token")
    fi
    curl -sf "${cookie[@]}" -o /dev/null "http://127.0.0.1:$port$path?[1-$n]"
    kill -TERM "$pid"
    wait "$pid" || true
    grep -E '^(summary|totals):' "$dir/out" | head -1 | awk '{print $2}'
    rm -rf "$dir"
}

a=$(total "$n1")
b=$(total "$n2")
echo "$bin $path: $(( (b - a) / (n2 - n1) )) instructions per request ($a for $n1, $b for $n2)"
