#!/usr/bin/env bash
# The TypeScript packages' checks, as CI runs them: install exactly what the package-lock.json
# files pin, make sure the generated types match the committed spec and both packages carry its
# version, type-check, build, run the tests against a live spa-auth (the client's, then the React
# bindings' in jsdom), and install the packed tarballs into a temp project.
# Needs target/debug/spa-auth (cargo build --workspace --bins).
set -euo pipefail
cd "$(dirname "$0")"
bin="${SPA_AUTH_BIN:-../target/debug/spa-auth}"
if [[ ! -x "$bin" ]]; then
  echo "clients/test.sh: $bin is missing; run 'cargo build --workspace --bins' first" >&2
  exit 1
fi
# Absolute: the React package's tests run from react/, where a relative path would miss.
bin="$(realpath "$bin")"
step() { printf -- '--- clients: %s\n' "$*"; }

step "npm ci"
npm ci --no-audit --no-fund
step "package versions match the spec's info.version"
node scripts/check-version.mjs
step "generated types match ../openapi/openapi.json"
npm run -s check:generated
step "tsc --noEmit (strict)"
npx --no-install tsc --noEmit
step "build dist/"
npm run -s build
step "vitest against a live spa-auth"
npx --no-install vitest run

# react/ installs a packed copy of this package (react/.npmrc: install-links), so after the build.
step "react: npm ci"
(cd react && npm ci --no-audit --no-fund)
step "react: tsc --noEmit (strict)"
(cd react && npx --no-install tsc --noEmit)
step "react: build dist/"
(cd react && npm run -s build)
step "react: vitest (jsdom) against a live spa-auth"
(cd react && SPA_AUTH_BIN="$bin" npx --no-install vitest run)
step "npm pack, install into a temp project, type-check and import"
bash scripts/pack-test.sh
