#!/usr/bin/env bash
# Run one benchmark against the services scripts/testenv.sh started, on a database and a Redis db of
# its own: the PostgreSQL database `hearth_bench` (dropped and recreated at every run, then left for
# inspection) and Redis db 9. Usage: scripts/run-bench.sh bench/lifecycle/run.py [--rounds N ...]
set -euo pipefail
cd "$(dirname "$0")/.."
envfile=${HEARTH_TESTENV_FILE:-/var/lib/hearth-testenv/env}
script=${1:?usage: scripts/run-bench.sh <benchmark script> [arguments...]}
shift
if [ ! -f "$envfile" ]; then
  echo "No test environment at $envfile: run 'bash scripts/testenv.sh up' (as root) first." >&2
  exit 1
fi
# shellcheck disable=SC1090
source "$envfile"
# The test engines' sockets are the local sockets a node may name.
export HEARTH_NODE_LOCAL_SOCKETS=${HEARTH_NODE_LOCAL_SOCKETS:-${HEARTH_TEST_DOCKER1_URL#unix://},${HEARTH_TEST_DOCKER2_URL#unix://}}
case "${DATABASE_URL:-}" in
  postgres*) ;;
  *) echo "Benchmarks run on PostgreSQL; DATABASE_URL is '${DATABASE_URL:-}'." >&2; exit 1 ;;
esac
mkdir -p bench/out
# One benchmark at a time: the lock is held (fd 9, inherited) until the benchmark exits.
exec 9>bench/out/.run-bench.lock
if ! flock -n 9; then
  echo "Another benchmark is running (bench/out/.run-bench.lock)." >&2
  exit 1
fi
# Same server and credentials as the test environment's database, another database name.
DATABASE_URL=$(.venv/bin/python - "$DATABASE_URL" <<'PY'
import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg

url = urlsplit(sys.argv[1])
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute("DROP DATABASE IF EXISTS hearth_bench WITH (FORCE)")
    conn.execute("CREATE DATABASE hearth_bench")
print(urlunsplit(url._replace(path="/hearth_bench")))
PY
)
REDIS_URL=$(.venv/bin/python -c 'import sys; from urllib.parse import urlsplit, urlunsplit; u = urlsplit(sys.argv[1]); print(urlunsplit(u._replace(path="/9")))' "$REDIS_URL")
export DATABASE_URL REDIS_URL
export DEBUG=0 SECRET_KEY=${BENCH_SECRET_KEY:-bench-secret-key-not-for-production}
export HEARTH_VAR_DIR=$PWD/var/bench DJANGO_SETTINGS_MODULE=config.settings PYTHONUNBUFFERED=1
export BENCH_COMMAND=${BENCH_COMMAND:-"bash scripts/run-bench.sh $script${*:+ $*}"}
mkdir -p "$HEARTH_VAR_DIR" bench/out
exec .venv/bin/python "$script" "$@"
