#!/usr/bin/env bash
# The browser tests: Swagger UI at /docs (docs.test.mjs), the example SPA in clients/spa
# (spa.test.mjs) and its account pages with mail delivered to a real SMTP server started by the
# test (accounts.test.mjs), in Debian's headless chromium. Installs what it needs on a fresh
# clone: chromium (Playwright's own browser download cannot work here), the pinned
# playwright-core, smtp-server and mailparser, and the npm packages to build the SPA. Expects
# `cargo build --workspace --bins` to have run. Screenshots go to tests/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  sudo_="" ; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq chromium >/dev/null
fi
# npm ci when a pinned devDependency is missing or at another version (e.g. one added since).
if ! node -e '
  const { devDependencies } = require("./package.json");
  for (const [name, version] of Object.entries(devDependencies))
    if (require(`./node_modules/${name}/package.json`).version !== version) process.exit(1);
' 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
fi
if [ ! -x ../../target/debug/spa-auth ] && [ -z "${SPA_AUTH_BIN:-}" ]; then
  echo "target/debug/spa-auth is missing: run 'cargo build --workspace --bins' first" >&2
  exit 1
fi

# The SPA installs packed copies of the client packages (clients/spa/.npmrc: install-links), so
# their dist/ must be built first: the client's, then the React bindings' (which need the client).
step() { printf -- '--- browser: %s\n' "$*"; }
step "build the client package (clients/)"
(cd ../../clients && npm ci --no-audit --no-fund --loglevel=error && npm run -s build)
step "build the React package (clients/react)"
(cd ../../clients/react && npm ci --no-audit --no-fund --loglevel=error && npm run -s build)
step "build the example SPA (clients/spa/dist)"
(cd ../../clients/spa && npm ci --no-audit --no-fund --loglevel=error && npm run -s build)

step "node --test"
node --test docs.test.mjs spa.test.mjs accounts.test.mjs security.test.mjs passkeys.test.mjs
