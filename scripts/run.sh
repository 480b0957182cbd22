#!/usr/bin/env bash
# Start the five processes (plus an embedded Redis when REDIS_URL is not set) in one terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
export HOST=${HOST:-127.0.0.1} PORT=${PORT:-8000}
procfile=Procfile
if [ -z "${REDIS_URL:-}" ] && ! grep -qs '^REDIS_URL=' .env; then
  procfile=Procfile.zero-setup
fi
cat <<BANNER

  Hearth is starting.
    Admin:     http://$HOST:$PORT/admin/
    API docs:  http://$HOST:$PORT/api/docs/
    Health:    http://$HOST:$PORT/api/health
  Log in with the administrator email and the password printed above
  (printed once, on the first run). Ctrl-C stops everything.

BANNER
exec .venv/bin/honcho -f "$procfile" start
