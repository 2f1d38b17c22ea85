#!/usr/bin/env bash
# Every test spa-auth has, as CI runs it. Installs what it needs (npm packages, a Python venv,
# Debian's chromium, nginx and caddy) and needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth).
set -euo pipefail
cd "$(dirname "$0")/.."
export SPA_AUTH_TEST_PG="${SPA_AUTH_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}"
started=$SECONDS
step() { printf '\n=== [%dm%02ds] %s\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)) "$*"; }

step "PostgreSQL is reachable (the Rust tests create their own databases on it)"
psql "$SPA_AUTH_TEST_PG" -Atqc 'select 1' >/dev/null
# Databases left by earlier runs (a killed test cannot drop its own), and the migrated template
# and pooled test databases of other migrations than today's (tests/src/db.rs names them after
# a hash of migration/src, computed the same way here).
fingerprint=$(cd migration/src && for f in $(LC_ALL=C ls *.rs); do printf '%s' "$f"; cat "$f"; done |
  sha256sum | cut -c1-16)
psql "$SPA_AUTH_TEST_PG" -Atqc "select datname from pg_database where datname like 'spa\\_auth\\_t\\_%'
    or ((datname like 'spa\\_auth\\_tpl\\_%' or datname like 'spa\\_auth\\_p\\_%')
        and datname not like '%$fingerprint%')" |
  while read -r db; do psql "$SPA_AUTH_TEST_PG" -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 || true; done

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build"
cargo build --workspace --locked --bins

step "systemd unit (deploy/systemd): systemd-analyze verify"
if command -v systemd-analyze >/dev/null; then
  # verify insists that ExecStart's binary exists: the one just built stands in for the
  # installed one, in a copy of the unit.
  unit_dir=$(mktemp -d)
  bin="$(realpath "${CARGO_TARGET_DIR:-target}")/debug/spa-auth"
  sed "s#/usr/local/bin/spa-auth#$bin#" deploy/systemd/spa-auth.service >"$unit_dir/spa-auth.service"
  # verify exits 0 on a misspelt key or a bad value ("ignoring"): any line about the unit fails.
  complaints=$(systemd-analyze verify "$unit_dir/spa-auth.service" 2>&1 | grep -F "$unit_dir" || true)
  rm -rf "$unit_dir"
  if [ -n "$complaints" ]; then echo "$complaints"; exit 1; fi
else
  echo "systemd-analyze not found: the unit is not verified here"
fi

step "nginx and Caddy for the proxy tests (tests/proxies), from Debian"
# Debian puts nginx in /usr/sbin, which a non-root PATH may lack. (bookworm's nginx-light is
# only nginx plus a module, so nginx it is.)
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v caddy >/dev/null || missing+=(caddy)
if [ ${#missing[@]} -gt 0 ]; then
  sudo_="" ; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "${missing[@]}" >/dev/null
  # Where systemd runs, the packages start both as services on port 80 (in a container without
  # an init system, policy-rc.d keeps them stopped); the tests start their own, on free ports.
  if [ -d /run/systemd/system ]; then
    $sudo_ systemctl disable --now "${missing[@]}" >/dev/null 2>&1 || true
  fi
fi

step "aiosmtpd for the mail tests (tests/smtp), in a venv"
bash tests/venv.sh tests/smtp
export SPA_AUTH_TEST_SMTP_PYTHON="$PWD/tests/smtp/.venv/bin/python"

step "Rust tests: unit and black-box over HTTP, on SQLite and PostgreSQL"
cargo nextest run --workspace --locked --no-fail-fast

step "doctests: the library's documented examples compile (nextest does not run them)"
cargo test --doc --workspace --locked

step "TypeScript client: generated from the committed spec, typed, tested against a live server"
bash clients/test.sh

step "contract: spec lint and schemathesis"
bash tests/contract/run.sh

step "browser: Swagger UI and the example SPA"
bash tests/browser/run.sh

step "Django import: black-box against a real Django (tests/django), on SQLite and PostgreSQL"
bash tests/django/run.sh
