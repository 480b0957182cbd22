#!/usr/bin/env bash
# Run the suite against the services scripts/testenv.sh started (their addresses are in its env file).
set -euo pipefail
cd "$(dirname "$0")/.."
envfile=${1:-/var/lib/hearth-testenv/env}
shift || true
if [ ! -f "$envfile" ]; then
  echo "No test environment at $envfile: run 'bash scripts/testenv.sh up' (as root) first." >&2
  exit 1
fi
# shellcheck disable=SC1090
source "$envfile"
export DEBUG=0 SECRET_KEY=${SECRET_KEY:-test-secret-key-not-for-production} HEARTH_VAR_DIR=${HEARTH_VAR_DIR:-$PWD/var/test}
mkdir -p "$HEARTH_VAR_DIR"
# Each test process has its own prometheus multiprocess directory under its var dir (config/metrics_dir.py;
# xdist workers get var/test-N): emptied here, so a run never counts an earlier run's requests.
rm -f "$HEARTH_VAR_DIR"/prometheus/*.db "$HEARTH_VAR_DIR"-*/prometheus/*.db
# The test engines' sockets are the local sockets a node may name.
export HEARTH_NODE_LOCAL_SOCKETS=${HEARTH_NODE_LOCAL_SOCKETS:-${HEARTH_TEST_DOCKER1_URL#unix://},${HEARTH_TEST_DOCKER2_URL#unix://}}
case "${DATABASE_URL:-}" in
  postgres*) ;;
  *) echo "The suite runs on PostgreSQL; DATABASE_URL is '${DATABASE_URL:-}'." >&2; exit 1 ;;
esac
# The whole suite runs on three workers (pytest-xdist; most tests wait on engines, sshds and processes
# rather than compute, so three fit two cores), each on its own share of the environment (its own
# database, Redis database and bucket: tests/worker_env.py), then, alone, the few tests that stop an
# engine or an sshd (marked stops_services) that the other worker's tests use. Chosen tests run in one
# process.
status=0
if [ "$#" = 0 ]; then
  export HEARTH_TEST_WORKER_ENVS=${HEARTH_TEST_WORKER_ENVS:-"$envfile-a $envfile-b"}
  .venv/bin/python -m pytest -p tests.worker_env -n "${HEARTH_TEST_WORKERS:-3}" --dist loadfile \
    -m "not stops_services" || status=$?
  if [ "$status" = 0 ] || [ "$status" = 1 ]; then
    .venv/bin/python -m pytest -p tests.worker_env -m stops_services -p no:cacheprovider || status=$((status | $?))
  fi
else
  .venv/bin/python -m pytest -p tests.worker_env "$@" || status=$?
fi
if [ "$status" = 5 ]; then
  echo "pytest collected no tests: that is a failure." >&2
fi
exit "$status"
