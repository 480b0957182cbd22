#!/usr/bin/env bash
# `make image`: build the production image hearth:latest (Dockerfile). Its base is the public Python
# image when it can be pulled; where no registry is reachable, a Debian bookworm base bootstrapped here
# from Debian's packages (debootstrap, then docker import) with Python. The Python packages come from
# PyPI inside the build, unless pip there cannot reach it: then a wheelhouse is built on this machine
# (with this machine's pip configuration) and installed offline.
# Settings: HEARTH_IMAGE (hearth:latest), HEARTH_PROXY_IMAGE (hearth/proxy:latest), HEARTH_IMAGE_BASE (python:3.11-slim-bookworm),
# HEARTH_DEBIAN_MIRROR (http://deb.debian.org/debian), HEARTH_WHEELHOUSE=1 to always build one.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${HEARTH_IMAGE:-hearth:latest}
proxy_image=${HEARTH_PROXY_IMAGE:-hearth/proxy:latest}
public=${HEARTH_IMAGE_BASE:-python:3.11-slim-bookworm}
local_base=hearth/base:bookworm
mirror=${HEARTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
say() { echo "image: $*" >&2; }
pullable() { docker image inspect "$1" >/dev/null 2>&1 || timeout 60 docker pull -q "$1" >/dev/null 2>&1; }
# The bootstrapped base has no Python: the Dockerfile (and the wheelhouse's container) add Debian's.
PYTHON_FROM_APT='command -v python3 >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null; }'

base=$public
if ! pullable "$public"; then
  base=$local_base
  if ! docker image inspect "$local_base" >/dev/null 2>&1; then
    say "$public cannot be pulled: bootstrapping $local_base from $mirror"
    command -v debootstrap >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap; }
    root=$(mktemp -d /tmp/hearth-base.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$mirror" >/dev/null
    # As Debian's slim images: no documentation, manuals or translations, now or from later packages.
    cat >"$root/etc/dpkg/dpkg.cfg.d/hearth-slim" <<'EXCLUDE'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EXCLUDE
    # and, as they do, no downloaded packages kept after an install
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CLEAN'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CLEAN
    find "$root/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
    rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/lib/apt/lists/* \
        "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    tar -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' - "$local_base" >/dev/null
  fi
fi

# A wheelhouse when asked, when the base is the bootstrapped one (no registry, so PyPI too is likely
# reachable only through this machine's pip settings), or when pip in the public base cannot reach it.
rm -rf build/wheelhouse && mkdir -p build/wheelhouse
if [ "${HEARTH_WHEELHOUSE:-}" = 1 ] || [ "$base" = "$local_base" ] || ! docker run --rm "$base" python3 -c \
    "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/pip/', timeout=10)" >/dev/null 2>&1; then
  say "building a wheelhouse (build/wheelhouse) with this machine's pip settings"
  # In a container of the base, so that the wheels are for its Python (3.11.2 on bookworm needs
  # packages 3.11.7 does not), with this machine's CA bundle and pip configuration (its mirrors).
  mounts=(-v "$PWD:/src" -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
  for path in /etc/pip.conf /opt/wheels /opt/pypi /opt/pypi-more; do
    [ -e "$path" ] && mounts+=(-v "$path:$path:ro")
  done
  docker run --rm "${mounts[@]}" -e PIP_CERT=/etc/ssl/certs/ca-certificates.crt -e PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$base" sh -c "$PYTHON_FROM_APT"' && mkdir /tmp/src \
      && tar -C /src --exclude=./.venv --exclude=./var --exclude=./build --exclude=./.git -cf - . \
      | tar -C /tmp/src -xf - && python3 -m venv /tmp/venv \
      && /tmp/venv/bin/pip wheel --quiet --wheel-dir /src/build/wheelhouse /tmp/src' \
    2> >(grep -v "^WARNING: Location" >&2)
fi

say "building $image from $base"
started=$(date +%s)
docker build --quiet --build-arg "BASE=$base" -t "$image" . >/dev/null
size() { docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1/1e6}'; }
say "built $image in $(( $(date +%s) - started )) s: $(size "$image")"

# The proxy, and PostgreSQL and Redis where their public images cannot be pulled, on a Debian base:
# the public slim one, or the bootstrapped one.
service_base=debian:bookworm-slim
[ "$base" = "$local_base" ] && service_base=$local_base
docker build --quiet --build-arg "BASE=$service_base" -t "$proxy_image" docker/proxy >/dev/null
say "built $proxy_image: $(size "$proxy_image")"
missing=()
for public_service in postgres:15-bookworm redis:7-bookworm; do
  pullable "$public_service" || missing+=("$public_service")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "${missing[*]} cannot be pulled: building hearth/postgres:15 and hearth/redis:7 from $service_base"
  bash scripts/service-images.sh "$service_base"
  say "set HEARTH_POSTGRES_IMAGE=hearth/postgres:15 and HEARTH_REDIS_IMAGE=hearth/redis:7 in .env for docker-compose.yml"
fi
