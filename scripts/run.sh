#!/usr/bin/env bash
# Start the five processes (plus an embedded Redis when REDIS_URL is not set) in one terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
# The web address travels under our own names (PORT is what the Procfile runners set for themselves).
export HEARTH_HOST=${HOST:-127.0.0.1} HEARTH_PORT=${PORT:-8000}
procfile=Procfile
if [ -z "${REDIS_URL:-}" ] && ! grep -qs '^REDIS_URL=' .env; then
  procfile=Procfile.zero-setup
fi
cat <<BANNER

  Hearth is starting.
    Admin:     http://$HEARTH_HOST:$HEARTH_PORT/admin/
    API docs:  http://$HEARTH_HOST:$HEARTH_PORT/api/docs/
    Health:    http://$HEARTH_HOST:$HEARTH_PORT/api/health
  Log in with the administrator email and the password printed above
  (printed once, on the first run). Ctrl-C stops everything.

BANNER
# Metrics of an earlier run (and live gauges of its processes) go before any process writes new ones.
.venv/bin/python -m config.metrics_dir --wipe
exec .venv/bin/python -m config.procfile "$procfile"
