#!/usr/bin/env bash
# Usage: bash tests/venv.sh DIR: the Python tools of DIR/requirements.txt in a venv, DIR/.venv,
# rebuilt whenever requirements.txt changes; does nothing when it is up to date.
set -euo pipefail
cd "$1"
stamp=".venv/.requirements.sha256"
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$want" > "$stamp"
fi
