#!/usr/bin/env bash
# Builds the example SPA on the generated client (and its React bindings) and serves it with the API and Swagger UI,
# on SQLite (./spa-auth.db) with a demo user. Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd clients && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
# The SPA installs packed copies of both packages: the React one is built after the client.
(cd clients/react && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
(cd clients/spa && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
cargo build --release -q -p spa-auth
export DATABASE_URL="${DATABASE_URL:-sqlite://spa-auth.db?mode=rwc}"
# Sign-up open, so the SPA's sign-up, verification and reset pages can be tried: with no
# SPA_AUTH_SMTP_URL, --demo prints each mail, link included, to this terminal's log.
export SPA_AUTH_SIGNUP="${SPA_AUTH_SIGNUP:-open}"
bind="${SPA_AUTH_BIND:-127.0.0.1:8080}"
port="${bind##*:}"
cat <<MSG

  SPA:         http://localhost:$port/
  Swagger UI:  http://localhost:$port/docs/
  Spec:        http://localhost:$port/openapi.json

  Sign up at http://localhost:$port/signup: the mail with the link to confirm the address
  (and any password-reset mail) is printed to the log below. Use localhost, not 127.0.0.1:
  links and the cross-site check name http://localhost:$port.

MSG
exec ./target/release/spa-auth serve --demo --bind "$bind" --spa-dir clients/spa/dist
