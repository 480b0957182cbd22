#!/usr/bin/env bash
# `make image`: build the production image hearth:latest (Dockerfile). Its base is the public Python
# image when it can be pulled; where no registry is reachable, a Debian bookworm base bootstrapped here
# from Debian's packages (debootstrap, then docker import) with Python. The Python packages come from
# PyPI inside the build, unless pip there cannot reach it: then a wheelhouse is built on this machine
# (with this machine's pip configuration) and installed offline.
# Settings: HEARTH_IMAGE (hearth:latest), HEARTH_IMAGE_BASE (python:3.11-slim-bookworm),
# HEARTH_DEBIAN_MIRROR (http://deb.debian.org/debian), HEARTH_WHEELHOUSE=1 to always build one.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${HEARTH_IMAGE:-hearth:latest}
public=${HEARTH_IMAGE_BASE:-python:3.11-slim-bookworm}
local_base=hearth/base:bookworm
mirror=${HEARTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
say() { echo "image: $*" >&2; }

base=$public
if ! docker image inspect "$public" >/dev/null 2>&1 && ! timeout 60 docker pull -q "$public" >/dev/null 2>&1; then
  base=$local_base
  if ! docker image inspect "$local_base" >/dev/null 2>&1; then
    say "$public cannot be pulled: bootstrapping $local_base from $mirror"
    command -v debootstrap >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap; }
    root=$(mktemp -d /tmp/hearth-base.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$mirror" >/dev/null
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
    tar -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' - "$local_base" >/dev/null
  fi
fi

# A wheelhouse when asked, or when pip inside a container of the base cannot reach the index.
rm -rf build/wheelhouse && mkdir -p build/wheelhouse
if [ "${HEARTH_WHEELHOUSE:-}" = 1 ] || ! docker run --rm "$base" python3 -c \
    "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/pip/', timeout=10)" >/dev/null 2>&1; then
  say "pip in the build cannot reach PyPI: building a wheelhouse (build/wheelhouse) with this machine's pip settings"
  # In a container of the base, so that the wheels are for its Python (3.11.2 on bookworm needs
  # packages 3.11.7 does not), with this machine's CA bundle and pip configuration (its mirrors).
  mounts=(-v "$PWD:/src" -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
  for path in /etc/pip.conf /opt/wheels /opt/pypi /opt/pypi-more; do
    [ -e "$path" ] && mounts+=(-v "$path:$path:ro")
  done
  docker run --rm "${mounts[@]}" -e PIP_CERT=/etc/ssl/certs/ca-certificates.crt -e PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$base" sh -c 'mkdir /tmp/src && tar -C /src --exclude=./.venv --exclude=./var --exclude=./build --exclude=./.git -cf - . \
      | tar -C /tmp/src -xf - && python3 -m venv /tmp/venv \
      && /tmp/venv/bin/pip wheel --quiet --wheel-dir /src/build/wheelhouse /tmp/src' \
    2> >(grep -v "^WARNING: Location" >&2)
fi

say "building $image from $base"
started=$(date +%s)
docker build --quiet --build-arg "BASE=$base" -t "$image" . >/dev/null
say "built $image in $(( $(date +%s) - started )) s: $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')"
