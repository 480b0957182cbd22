#!/bin/bash
# The entrypoint of hearth/postgres:15 (docker/postgres/Dockerfile), doing what the official image's
# does for docker-compose.yml. Started as root, it gives PGDATA to the postgres user (a bind mount or a
# volume made elsewhere may belong to root) and runs itself again as postgres; started as postgres
# (--user postgres), it goes on directly. On the first start (no PG_VERSION in PGDATA) it creates the
# cluster: UTF8, the C.UTF-8 locale, the superuser POSTGRES_USER (postgres) with the password
# POSTGRES_PASSWORD (or read from POSTGRES_PASSWORD_FILE), the database POSTGRES_DB (the user's name),
# scram-sha-256 for every TCP connection and trust only on the local socket; it refuses to without a
# password. Then it execs postgres in the foreground (the stop signal reaches it directly).
#
# The cluster is made in PGDATA/.hearth-init and moved into PGDATA when complete, PG_VERSION last: an
# initialisation that fails or is killed midway leaves no half-made cluster that a later start would
# take for a finished one; the next start sees .hearth-init, empties PGDATA and begins again.
set -euo pipefail

say() { echo "postgres-entrypoint: $*" >&2; }
die() {
  say "$*"
  exit 1
}

# file_env VAR [DEFAULT]: VAR from the environment, or from the file named by VAR_FILE (a Docker
# secret), never both.
file_env() {
  local var=$1 file_var="$1_FILE" value=${2:-}
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    die "both $var and $file_var are set: set only one of them"
  fi
  if [ -n "${!var:-}" ]; then
    value=${!var}
  elif [ -n "${!file_var:-}" ]; then
    [ -r "${!file_var}" ] || die "$file_var=${!file_var}: the file cannot be read"
    value=$(<"${!file_var}")
  fi
  export "$var=$value"
  unset "$file_var"
}

init_cluster() {
  local init="$PGDATA/.hearth-init" socket
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  if [ -z "$POSTGRES_PASSWORD" ]; then
    die "refusing to create the database cluster without a password: set POSTGRES_PASSWORD (or" \
      "POSTGRES_PASSWORD_FILE, a file holding it) for the superuser $POSTGRES_USER; every TCP" \
      "connection must give it (scram-sha-256)"
  fi
  say "creating the database cluster in $PGDATA: superuser $POSTGRES_USER, database $POSTGRES_DB"
  mkdir "$init"
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS: extra initdb options, split on spaces
  printf '%s\n' "$POSTGRES_PASSWORD" | initdb --pgdata="$init" --username="$POSTGRES_USER" \
    --pwfile=/dev/stdin --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust \
    --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-} >/dev/null
  echo "host all all all scram-sha-256" >>"$init/pg_hba.conf"

  if [ "$POSTGRES_DB" != postgres ]; then
    # A server on a private socket only: nothing (not even the healthcheck) sees it before it is done.
    socket=$(mktemp -d /tmp/hearth-pg-init.XXXXXX)
    pg_ctl --pgdata="$init" --wait --silent \
      -o "-c listen_addresses='' -c unix_socket_directories=$socket" start
    psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 --host="$socket" --username="$POSTGRES_USER" \
      --dbname=postgres --set=db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    pg_ctl --pgdata="$init" --wait --silent --mode=fast stop
    rm -rf "$socket" "$init/postmaster.opts"
  fi

  sync -f "$init"
  shopt -s dotglob nullglob
  local entry
  for entry in "$init"/*; do
    [ "${entry##*/}" = PG_VERSION ] || mv "$entry" "$PGDATA/"
  done
  shopt -u dotglob nullglob
  mv "$init/PG_VERSION" "$PGDATA/PG_VERSION"
  rmdir "$init"
  sync -f "$PGDATA"
  say "the database cluster is ready"
}

# `docker run hearth/postgres:15 -c shared_buffers=256MB`: options for postgres.
if [ "${1#-}" != "$1" ]; then
  set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
  exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
  chown postgres:postgres /var/run/postgresql
  chmod 700 "$PGDATA"
  chmod 3777 /var/run/postgresql
  export HOME=/var/lib/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -w "$PGDATA" ] || [ ! -x "$PGDATA" ]; then
  die "PGDATA=$PGDATA cannot be written by $(id -un 2>/dev/null || id -u): start the container as" \
    "root (it gives the directory to postgres, uid 999) or chown the directory to 999:999"
fi
chmod 700 "$PGDATA" 2>/dev/null || :

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -d "$PGDATA/.hearth-init" ]; then
    say "an earlier initialisation did not finish: emptying $PGDATA and beginning again"
    find "$PGDATA" -mindepth 1 -delete
  elif [ -n "$(ls -A "$PGDATA")" ]; then
    die "PGDATA=$PGDATA is not empty but holds no database cluster (no PG_VERSION): it is left" \
      "alone. Empty it, or mount the volume one level up and set PGDATA to a subdirectory (a" \
      "filesystem's lost+found, for one, is in the way)"
  fi
  init_cluster
elif [ -d "$PGDATA/.hearth-init" ]; then
  rmdir "$PGDATA/.hearth-init" # the cluster was moved in whole; only this was left to remove
fi

unset POSTGRES_PASSWORD
exec "$@"
