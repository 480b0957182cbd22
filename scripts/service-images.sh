#!/usr/bin/env bash
# scripts/service-images.sh BASE [postgres] [redis]: build docker-compose.yml's PostgreSQL and Redis
# from Debian's packages on BASE (a Debian bookworm image: scripts/image.sh's locally bootstrapped
# hearth/base:bookworm, or debian:bookworm-slim), for where the public postgres:15-bookworm and
# redis:7-bookworm cannot be pulled: hearth/postgres:15 (docker/postgres) and hearth/redis:7
# (docker/redis), both by default. Compose takes them with HEARTH_POSTGRES_IMAGE=hearth/postgres:15
# and HEARTH_REDIS_IMAGE=hearth/redis:7.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "service-images: $*" >&2; }
if [ -z "${1:-}" ]; then
  say "usage: $0 BASE [postgres] [redis]  (BASE: a Debian bookworm image, e.g. hearth/base:bookworm)"
  exit 2
fi
base=$1
shift
[ $# -gt 0 ] || set -- postgres redis
docker image inspect "$base" >/dev/null 2>&1 || {
  say "the base image $base is not on this machine (scripts/image.sh bootstraps hearth/base:bookworm)"
  exit 1
}

for service in "$@"; do
  case $service in
    postgres) image=hearth/postgres:15 ;;
    redis) image=hearth/redis:7 ;;
    *)
      say "unknown service $service: postgres or redis"
      exit 2
      ;;
  esac
  started=$(date +%s)
  log=$(mktemp)
  if ! docker build --quiet --force-rm --build-arg "BASE=$base" -t "$image" "docker/$service" >"$log" 2>&1; then
    say "building $image from $base failed:"
    cat "$log" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
  size=$(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')
  say "built $image from $base in $(($(date +%s) - started)) s: $size"
done
