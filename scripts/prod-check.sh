#!/usr/bin/env bash
# `make prod-check`: the production path end to end (bench/prod_check/__init__.py says what it shows). Builds
# the previous commit's image (hearth:prev; HEARTH_PREVIOUS_REV picks another) and this checkout's
# (hearth:latest, hearth/proxy:latest: the previous panel runs behind this proxy too), then runs the
# check against the test environment's SSH node. Needs Docker,
# Compose (v2's `docker compose`, or v1's docker-compose, installed from Debian's packages when neither
# is here) and root for the test environment. Takes about ten minutes; results go to bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if docker compose version >/dev/null 2>&1; then
  compose="docker compose"
else
  command -v docker-compose >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >/dev/null; }
  compose=docker-compose
fi
envfile=${HEARTH_TESTENV_FILE:-/var/lib/hearth-testenv/env}
# shellcheck disable=SC1090
source "$envfile"

size() { docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1/1e6}'; }
build() { # label, directory, image, proxy image: the build's time in seconds on stdout
  local started
  started=$(date +%s)
  (cd "$2" && HEARTH_IMAGE=$3 HEARTH_PROXY_IMAGE=$4 bash scripts/image.sh) >&2
  echo $(( $(date +%s) - started ))
}
previous=$(mktemp -d /tmp/hearth-prev.XXXXXX)
trap 'rm -rf "$previous"' EXIT
git archive "${HEARTH_PREVIOUS_REV:-HEAD~1}" | tar -x -C "$previous"
echo "prod-check: building the previous commit ($(git rev-parse --short "${HEARTH_PREVIOUS_REV:-HEAD~1}")) as hearth:prev" >&2
prev_seconds=$(build previous "$previous" hearth:prev hearth/proxy:prev)
echo "prod-check: building this checkout as hearth:latest" >&2
docker image rm -f hearth:latest >/dev/null 2>&1 || true
seconds=$(build current . hearth:latest hearth/proxy:latest)

# The public PostgreSQL and Redis images, or the ones image.sh built where those cannot be pulled.
docker image inspect postgres:15-bookworm >/dev/null 2>&1 || export HEARTH_POSTGRES_IMAGE=hearth/postgres:15
docker image inspect redis:7-bookworm >/dev/null 2>&1 || export HEARTH_REDIS_IMAGE=hearth/redis:7
HEARTH_CHECK_IMAGES=$(printf '{"hearth:latest (size)": "%s", "hearth:latest (build: a wheelhouse, then docker build)": "%s s", "hearth:prev (build)": "%s s", "hearth/proxy:latest (size)": "%s", "%s (size)": "%s", "%s (size)": "%s"}' \
  "$(size hearth:latest)" "$seconds" "$prev_seconds" "$(size hearth/proxy:latest)" \
  "${HEARTH_POSTGRES_IMAGE:-postgres:15-bookworm}" "$(size "${HEARTH_POSTGRES_IMAGE:-postgres:15-bookworm}")" \
  "${HEARTH_REDIS_IMAGE:-redis:7-bookworm}" "$(size "${HEARTH_REDIS_IMAGE:-redis:7-bookworm}")")
export HEARTH_CHECK_IMAGES
exec .venv/bin/python -m bench.prod_check --compose "$compose" "$@"
