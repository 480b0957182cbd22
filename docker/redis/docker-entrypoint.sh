#!/bin/bash
# The entrypoint of hearth/redis:7 (docker/redis/Dockerfile), doing what the official image's does.
# Started as root, it gives the files in /data to the redis user and runs itself again as redis;
# started as redis (--user redis), it goes on directly. A redis-server command gets the defaults the
# official image is built with, unless it sets them itself (as an option, or in the configuration
# file it names): --bind 0.0.0.0 --protected-mode no --dir /data. Debian's redis-server has Redis's
# own defaults (the loopback addresses and protected mode), under which no other container could
# connect: compose's `redis-server --appendonly yes` would not be reachable from the panel.
set -euo pipefail

# `docker run hearth/redis:7 --maxmemory 1gb` or `... /etc/redis.conf`: arguments of redis-server.
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi
if [ "$1" != redis-server ]; then
  exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis:redis '{}' +
  export HOME=/var/lib/redis
  exec setpriv --reuid=redis --regid=redis --init-groups "${BASH_SOURCE[0]}" "$@"
fi

args=("${@:2}")
first=${args[0]:-} conf=
if [ -n "$first" ] && { [ "${first#-}" = "$first" ] || [ "$first" = - ]; }; then
  conf=$first # redis-server CONFIG-FILE [OPTIONS]; "-" reads the configuration from stdin
fi
# given OPTION: set by an option of the command, or in its configuration file.
given() {
  local arg
  for arg in "${args[@]}"; do
    [ "${arg,,}" = "--$1" ] && return 0
  done
  [ "$conf" = - ] && return 0 # cannot be read here without taking it from redis-server
  [ -n "$conf" ] && [ -r "$conf" ] && grep -qiE "^[[:space:]]*$1([[:space:]]|$)" "$conf"
}
given bind || set -- "$@" --bind 0.0.0.0
given protected-mode || set -- "$@" --protected-mode no
given dir || set -- "$@" --dir /data

umask 0077
exec "$@"
