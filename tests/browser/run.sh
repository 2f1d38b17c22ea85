#!/usr/bin/env bash
# Swagger UI at /docs in a real browser. Installs what it needs on a fresh clone: Debian's
# chromium (Playwright's own browser download cannot work here) and the pinned playwright-core.
# Expects `cargo build --workspace --bins` to have run. Screenshots go to tests/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  sudo_="" ; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
if [ ! -x ../../target/debug/spa-auth ] && [ -z "${SPA_AUTH_BIN:-}" ]; then
  echo "target/debug/spa-auth is missing: run 'cargo build --workspace --bins' first" >&2
  exit 1
fi
node --test docs.test.mjs
