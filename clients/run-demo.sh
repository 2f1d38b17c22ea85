#!/usr/bin/env bash
# Builds the example SPA on the generated client and serves it with the API and Swagger UI,
# on SQLite (./spa-auth.db) with a demo user. Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd clients && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
(cd clients/spa && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
cargo build --release -q -p spa-auth
export DATABASE_URL="${DATABASE_URL:-sqlite://spa-auth.db?mode=rwc}"
bind="${SPA_AUTH_BIND:-127.0.0.1:8080}"
port="${bind##*:}"
cat <<MSG

  SPA:         http://localhost:$port/
  Swagger UI:  http://localhost:$port/docs/
  Spec:        http://localhost:$port/openapi.json

MSG
exec ./target/release/spa-auth serve --demo --bind "$bind" --spa-dir clients/spa/dist
