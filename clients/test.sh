#!/usr/bin/env bash
# The TypeScript client's checks, as CI runs them: install exactly what package-lock.json pins,
# make sure the generated types match the committed spec, type-check, build, and run the tests
# against a live spa-auth. Needs target/debug/spa-auth (cargo build --workspace --bins).
set -euo pipefail
cd "$(dirname "$0")"
bin="${SPA_AUTH_BIN:-../target/debug/spa-auth}"
if [[ ! -x "$bin" ]]; then
  echo "clients/test.sh: $bin is missing; run 'cargo build --workspace --bins' first" >&2
  exit 1
fi
step() { printf -- '--- clients: %s\n' "$*"; }

step "npm ci"
npm ci --no-audit --no-fund
step "generated types match ../openapi/openapi.json"
npm run -s check:generated
step "tsc --noEmit (strict)"
npx --no-install tsc --noEmit
step "build dist/"
npm run -s build
step "vitest against a live spa-auth"
npx --no-install vitest run
