#!/usr/bin/env bash
# Contract tests of the committed spec (openapi/openapi.json):
#   1. lint it with openapi-spec-validator;
#   2. run schemathesis against a live spa-auth on a fresh SQLite database.
# Self-installing (a pinned venv in tests/contract/.venv); expects `cargo build --workspace
# --bins` to have run. Bounded: a modest number of examples per operation.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
bin="${SPA_AUTH_BIN:-$root/target/debug/spa-auth}"
spec="$root/openapi/openapi.json"

# The venv is rebuilt whenever requirements.txt changes.
bash "$here/../venv.sh" "$here"

echo "--- lint: openapi-spec-validator $(.venv/bin/pip show openapi-spec-validator | sed -n 's/^Version: //p')"
.venv/bin/openapi-spec-validator "$spec"

[ -x "$bin" ] || { echo "$bin is missing: run 'cargo build --workspace --bins' first" >&2; exit 1; }

tmp="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

export DATABASE_URL="sqlite://$tmp/x.db?mode=rwc"
export SPA_AUTH_TEST_USER=alice
export SPA_AUTH_TEST_PASSWORD="contract-tests-password-1"
# Schemathesis sends thousands of logins, most of them wrong on purpose; the login throttle
# would soon answer 429 to the auth hook's own logins too, and the cookie-protected
# operations would then be tested only unauthenticated. Its limits go out of the way here
# (the throttle has tests of its own).
export SPA_AUTH_THROTTLE_PER_PAIR=1000000 SPA_AUTH_THROTTLE_PER_IP=1000000 SPA_AUTH_THROTTLE_PER_ACCOUNT=1000000
# Sign-up open and mail on (to the log), so that sign-up, verification and reset run their
# real code rather than answering `not_enabled`; their per-address limits out of the way too.
export SPA_AUTH_SIGNUP=open SPA_AUTH_SMTP_URL=log SPA_AUTH_MAIL_FROM="spa-auth <no-reply@example.com>"
export SPA_AUTH_PUBLIC_URL=https://auth.example.com
export SPA_AUTH_MAIL_PER_ADDRESS=1000000 SPA_AUTH_MAIL_PER_IP=1000000
export RUST_LOG="${RUST_LOG:-warn}"

printf '%s\n' "$SPA_AUTH_TEST_PASSWORD" | "$bin" user create "$SPA_AUTH_TEST_USER" --email a@example.com >/dev/null
# A second account, with TOTP enrolled once the server runs (totp_user.py): the hook gives a
# share of the cookie-protected cases its half-open session (password only), which every
# operation but the second step must refuse as the spec says (401 second_factor_required).
export SPA_AUTH_TEST_TOTP_USER=tess
printf '%s\n' "$SPA_AUTH_TEST_PASSWORD" | "$bin" user create "$SPA_AUTH_TEST_TOTP_USER" --email t@example.com >/dev/null
# TOTP on: its secrets are encrypted under this key (a fixed one: the database is thrown away).
export SPA_AUTH_SECRET_KEY=c3BhLWF1dGgtY29udHJhY3QtdGVzdHMta2V5LTMyYnk=
"$bin" serve --bind 127.0.0.1:0 2>"$tmp/server.log" &
server=$!
port=""
for _ in $(seq 1 300); do
  port="$(sed -n 's#.*spa-auth listening on http://localhost:\([0-9]*\).*#\1#p' "$tmp/server.log" | head -n1)"
  [ -n "$port" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "spa-auth did not start" >&2; cat "$tmp/server.log" >&2; exit 1; }
export SPA_AUTH_BASE_URL="http://127.0.0.1:$port"
.venv/bin/python "$here/totp_user.py" "$SPA_AUTH_BASE_URL" "$SPA_AUTH_TEST_TOTP_USER" "$SPA_AUTH_TEST_PASSWORD"

echo "--- schemathesis $(.venv/bin/st --version | awk '{print $NF}') against $SPA_AUTH_BASE_URL"
status=0
SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$here" .venv/bin/st --config-file "$here/schemathesis.toml" run "$spec" \
  --url "$SPA_AUTH_BASE_URL" \
  --checks "${CONTRACT_CHECKS:-all}" \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "${CONTRACT_MAX_EXAMPLES:-40}" \
  --workers 1 \
  --generation-deterministic \
  --request-timeout 30 \
  --suppress-health-check too_slow \
  --report junit --report-dir "$root/tests/artifacts/contract" \
  || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log (last 50 lines)"
  tail -n 50 "$tmp/server.log"
fi
exit "$status"
