#!/usr/bin/env bash
# Black-box test of `spa-auth import django` against a real Django (see test_import.py), on
# SQLite and on PostgreSQL (SPA_AUTH_TEST_PG, default postgres://postgres@127.0.0.1:5432/test).
# Makes its own venv in tests/django/.venv from requirements.txt.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv"
fi
# pip is quick when everything is installed already; a stamp would miss a hand-edited venv.
"$here/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

cargo build --quiet -p spa-auth --bin spa-auth
binary="$(cargo metadata --format-version 1 --no-deps | "$here/.venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/spa-auth"

passed=0 failed=0
for kind in sqlite postgres; do
  log="$(mktemp)"
  status=0
  "$here/.venv/bin/python" "$here/test_import.py" "$kind" "$binary" 2>&1 | tee "$log" || status=$?
  line="$(grep -E '^django import \(.*\): [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n1 || true)"
  rm -f "$log"
  if [ -z "$line" ]; then
    echo "test_import.py $kind stopped before its summary (exit $status)"
    failed=$((failed + 1))
    continue
  fi
  p="$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1/' <<<"$line")"
  f="$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\2/' <<<"$line")"
  passed=$((passed + p)) failed=$((failed + f))
done
echo "django-import: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
