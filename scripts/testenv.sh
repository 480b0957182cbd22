#!/usr/bin/env bash
# Hearth test environment: installs (with apt) and starts, idempotently, the
# real services the test suite runs against. Runs as root on Debian 12, with no
# systemd and no stdin. See DESIGN.md, "Tests run against real things".
#
# Usage: scripts/testenv.sh [up|status|down|start-engine N|stop-engine N|
#                            start-sshd N|stop-sshd N]
#
#   up (default)    install what is missing, start everything, build the test
#                   image on both engines, write /var/lib/hearth-testenv/env (and its shares env-a…env-f)
#   status          print each service's state (exit 1 if something is down)
#   down            stop everything this script starts
#   start-engine N  start Docker engine N (1 or 2) if it is not running
#   stop-engine N   stop Docker engine N
#   start-sshd N    start the sshd in front of engine N
#   stop-sshd N     stop the sshd in front of engine N (and its sessions)
#
# What runs (all state under /var/lib/hearth-testenv, runtime files under
# /run/hearth-testenv; daemons log to /var/lib/hearth-testenv/logs):
#   engine 1  dockerd on unix:///var/run/docker.sock, data root /var/lib/docker,
#             bridge docker0, label hearth.engine=1, owns iptables
#   engine 2  dockerd on unix:///run/hearth-docker2.sock, data root
#             /var/lib/hearth-testenv/docker2, bridge hearth-br2
#             (172.31.250.1/24), label hearth.engine=2, --iptables=false
#             (ports are published by docker-proxy)
#   sshd      127.0.0.1:2201 -> engine 1, 127.0.0.1:2202 -> engine 2, user hearth
#   postgres  127.0.0.1:5432, role hearth/hearth (CREATEDB), database hearth
#   redis     127.0.0.1:6379
#   mariadb   127.0.0.1:3306, user hearth_admin/hearth with ALL ... WITH GRANT OPTION
#   s3        127.0.0.1:9100, moto's standalone S3-compatible server (moto_server from
#             the repo's .venv, in memory: the tests make their buckets), keys
#             hearth/hearth-secret; bucket hearth-test (env), hearth-test-<x> (env-<x>)
#   image     hearth/testgame:latest on both engines, from
#             tests/images/testgame/testgame.sh and Debian's busybox-static
#   image     hearth/testyolk:latest on both engines: the test game's files plus
#             Debian's bash-static as /bin/bash and tests/images/testyolk (an
#             entrypoint like Pterodactyl's yolks, printargs)
set -euo pipefail

STATE=/var/lib/hearth-testenv
RUNDIR=/run/hearth-testenv
LOGS=$STATE/logs
ENV_FILE=$STATE/env
SHARES="a b c d e f" # env-a…env-f: see write_env_shares
SSH_DIR=$STATE/ssh
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GAME_SRC=$REPO/tests/images/testgame/testgame.sh
IMAGE=hearth/testgame:latest
# Bump when the image recipe in build_rootfs changes (forces a rebuild).
IMAGE_RECIPE=1
YOLK_SRC=$REPO/tests/images/testyolk
YOLK_IMAGE=hearth/testyolk:latest
# Bump when the recipe in build_yolk_rootfs changes.
YOLK_RECIPE=1
YOLK_TAR=

ENGINE1_SOCK=/var/run/docker.sock
ENGINE1_PIDFILE=/var/run/docker.pid
ENGINE1_BRIDGE=docker0
ENGINE2_SOCK=/run/hearth-docker2.sock
ENGINE2_PIDFILE=/run/hearth-docker2.pid
ENGINE2_EXEC_ROOT=/run/hearth-docker2
ENGINE2_DATA_ROOT=$STATE/docker2
ENGINE2_BRIDGE=hearth-br2
ENGINE2_BRIDGE_CIDR=172.31.250.1/24

SSH_USER=hearth
NODE1_DATA_DIR=/var/lib/hearth-node1
NODE2_DATA_DIR=/var/lib/hearth-node2

MARIADB_DATA=$STATE/mariadb
MARIADB_SOCK=/run/mysqld/mysqld.sock
MARIADB_PIDFILE=/run/mysqld/hearth-testenv-mariadb.pid
REDIS_PIDFILE=$RUNDIR/redis.pid
S3_PORT=9100
S3_PIDFILE=$RUNDIR/moto.pid
MOTO_SERVER=$REPO/.venv/bin/moto_server

APT_PACKAGES=(docker.io openssh-server openssh-client postgresql redis-server
    redis-tools mariadb-server mariadb-client busybox-static iproute2 iptables
    procps util-linux zstd openssl bash-static)

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export LC_ALL=C.UTF-8 LANG=C.UTF-8
umask 022
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
export DOCKER_CONFIG=$STATE/docker-cli

START_TIME=$(date +%s.%N)
ENGINE_FRESH_1=0
ENGINE_FRESH_2=0
ROOTFS_TAR=

log() { printf 'testenv: %s\n' "$*"; }
warn() { printf 'testenv: WARNING: %s\n' "$*" >&2; }
die() { printf 'testenv: ERROR: %s\n' "$*" >&2; exit 1; }

# Print the last lines of a log file to stderr (for error messages).
log_tail() {
    local f=$1
    if [ -f "$f" ]; then
        printf 'testenv: ---- last lines of %s ----\n' "$f" >&2
        tail -n "${2:-30}" "$f" | sed 's/^/testenv:   /' >&2
        printf 'testenv: ----\n' >&2
    fi
}

die_log() { log_tail "$2"; die "$1"; }

# Start a daemon in its own session, detached from our stdio, our lock fd and
# the caller's working directory.
spawn() {
    local logfile=$1
    shift
    (cd / && exec setsid -f "$@" </dev/null >>"$logfile" 2>&1 9>&-)
}

# Run a command as another user from a directory it can read.
as_user() {
    local user=$1
    shift
    (cd / && runuser -u "$user" -- "$@")
}

# pid from a pid file when that process is alive and its command line
# contains $2 (guards against stale pid files and reused pids).
live_pid() {
    local pidfile=$1 pattern=$2 pid
    [ -r "$pidfile" ] || return 1
    pid=
    read -r pid <"$pidfile" 2>/dev/null || true
    case $pid in '' | *[!0-9]*) return 1 ;; esac
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern" || return 1
    echo "$pid"
}

# True while a process exists and is not a zombie.
alive() {
    local state
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Stop a process: SIGTERM, wait up to $2 seconds, then SIGKILL.
kill_wait() {
    local pid=$1 timeout=${2:-30} i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < timeout * 10; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
}

need_root() {
    [ "$(id -u)" = 0 ] || die "must run as root"
}

prepare_dirs() {
    mkdir -p "$STATE" "$RUNDIR" "$LOGS" "$SSH_DIR" "$DOCKER_CONFIG" "$STATE/etc"
    chmod 755 "$STATE" "$RUNDIR" "$LOGS"
    chmod 700 "$DOCKER_CONFIG"
}

take_lock() {
    exec 9>"$STATE/lock"
    if ! flock -w 900 9; then
        die "another testenv.sh is still running (lock $STATE/lock)"
    fi
}

# --- packages ---------------------------------------------------------------

install_packages() {
    local missing=() p installed
    installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${APT_PACKAGES[@]}" 2>/dev/null |
        awk '$NF == "installed" {print $1}') || true
    for p in "${APT_PACKAGES[@]}"; do
        grep -qx -- "$p" <<<"$installed" || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0

    log "installing with apt: ${missing[*]}"
    local apt_log=$LOGS/apt.log created_policy=0
    # Keep package scripts from starting services (sshd on :22, the stock
    # docker/redis/mariadb): this script starts its own instances.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    local rc=0
    {
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get update -q -o DPkg::Lock::Timeout=300; then
            warn "apt-get update failed; trying to install anyway"
        fi
        apt-get install -y -q --no-install-recommends \
            -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0 \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            "${missing[@]}"
    } </dev/null >>"$apt_log" 2>&1 || rc=$?
    [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" = 0 ] || die_log "apt-get install failed (exit $rc)" "$apt_log"
    log "installed ${#missing[@]} packages"
}

# --- browser for the UI tests -------------------------------------------------

# Playwright cannot download its own browsers here: the browser tests drive
# Debian's chromium (tests/webui launch /usr/bin/chromium).
ensure_chromium() {
    [ -x /usr/bin/chromium ] && return 0
    log "installing chromium with apt (for the browser tests)"
    local apt_log=$LOGS/apt.log rc=0
    {
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get update -q -o DPkg::Lock::Timeout=300; then
            warn "apt-get update failed; trying to install anyway"
        fi
        apt-get install -y -q --no-install-recommends \
            -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0 chromium fonts-dejavu-core
    } </dev/null >>"$apt_log" 2>&1 || rc=$?
    [ "$rc" = 0 ] || die_log "apt-get install chromium failed (exit $rc)" "$apt_log"
    log "installed chromium"
}

# --- users and directories ---------------------------------------------------

ensure_users() {
    getent group docker >/dev/null || groupadd --system docker
    if ! getent passwd "$SSH_USER" >/dev/null; then
        useradd --create-home --shell /bin/bash --groups docker "$SSH_USER"
    fi
    id -nG "$SSH_USER" | tr ' ' '\n' | grep -qx docker || usermod -aG docker "$SSH_USER"
    # No password login, but not "locked" (sshd without PAM refuses locked
    # accounts even for public keys).
    if [ "$(getent shadow "$SSH_USER" | cut -d: -f2)" != "*" ]; then
        usermod -p '*' "$SSH_USER"
    fi
    local home
    home=$(getent passwd "$SSH_USER" | cut -d: -f6)
    if [ ! -d "$home" ]; then
        mkdir -p "$home"
        chown "$SSH_USER:$SSH_USER" "$home"
    fi
    # The panel's own directories too: tests reach engine 2 both as root (its socket) and as the SSH user,
    # and one the root side made first (transfers/) would refuse the SSH user's mkdir in it.
    local d sub
    for d in "$NODE1_DATA_DIR" "$NODE2_DATA_DIR"; do
        for sub in "" /servers /backups /transfers; do
            mkdir -p "$d$sub"
            [ "$(stat -c %U "$d$sub")" = "$SSH_USER" ] || chown "$SSH_USER:$SSH_USER" "$d$sub"
            chmod 755 "$d$sub"
        done
    done
}

# --- docker engines -----------------------------------------------------------

engine_sock() { if [ "$1" = 1 ]; then echo "$ENGINE1_SOCK"; else echo "$ENGINE2_SOCK"; fi; }
engine_pidfile() { if [ "$1" = 1 ]; then echo "$ENGINE1_PIDFILE"; else echo "$ENGINE2_PIDFILE"; fi; }
engine_bridge() { if [ "$1" = 1 ]; then echo "$ENGINE1_BRIDGE"; else echo "$ENGINE2_BRIDGE"; fi; }
engine_log() { echo "$LOGS/dockerd$1.log"; }

dk() {
    local n=$1
    shift
    docker -H "unix://$(engine_sock "$n")" "$@"
}

engine_pid() { live_pid "$(engine_pidfile "$1")" dockerd; }

engine_answers() {
    [ -S "$(engine_sock "$1")" ] || return 1
    timeout 10 docker -H "unix://$(engine_sock "$1")" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

bridge_ok() {
    ip -4 addr show dev "$1" 2>/dev/null | grep -q 'inet '
}

ensure_bridge2() {
    if ! ip link show dev "$ENGINE2_BRIDGE" >/dev/null 2>&1; then
        ip link add name "$ENGINE2_BRIDGE" type bridge
    fi
    if ! ip -4 addr show dev "$ENGINE2_BRIDGE" | grep -qF "inet $ENGINE2_BRIDGE_CIDR "; then
        ip addr add "$ENGINE2_BRIDGE_CIDR" dev "$ENGINE2_BRIDGE"
    fi
    ip link set dev "$ENGINE2_BRIDGE" up
}

# Engine 2 runs with --iptables=false (a second iptables-managing dockerd would
# delete engine 1's DOCKER chains when it starts). Engine 1 sets the FORWARD
# policy to DROP, so let traffic on engine 2's bridge through explicitly.
ensure_engine2_forwarding() {
    iptables -n -L DOCKER-USER >/dev/null 2>&1 || return 0
    local dir
    for dir in -i -o; do
        if ! iptables -C DOCKER-USER "$dir" "$ENGINE2_BRIDGE" -j ACCEPT 2>/dev/null; then
            iptables -I DOCKER-USER "$dir" "$ENGINE2_BRIDGE" -j ACCEPT
        fi
    done
}

engine_start() {
    local n=$1 logfile config args=()
    logfile=$(engine_log "$n")
    config=$STATE/etc/daemon$n.json
    [ -f "$config" ] || echo '{}' >"$config"
    if [ "$n" = 1 ]; then
        args=(--host "unix://$ENGINE1_SOCK" --pidfile "$ENGINE1_PIDFILE"
            --config-file "$config" --group docker --label hearth.engine=1)
    else
        ensure_bridge2
        mkdir -p "$ENGINE2_DATA_ROOT" "$ENGINE2_EXEC_ROOT"
        chmod 711 "$ENGINE2_DATA_ROOT"
        args=(--host "unix://$ENGINE2_SOCK" --pidfile "$ENGINE2_PIDFILE"
            --data-root "$ENGINE2_DATA_ROOT" --exec-root "$ENGINE2_EXEC_ROOT"
            --config-file "$config" --group docker --label hearth.engine=2
            --bridge "$ENGINE2_BRIDGE" --iptables=false --ip-masq=false
            --containerd-namespace hearth2 --containerd-plugins-namespace hearth2-plugins)
    fi
    printf '\n==== %s starting dockerd %s\n' "$(date -Is)" "${args[*]}" >>"$logfile"
    spawn "$logfile" dockerd "${args[@]}"
    local i
    for ((i = 0; i < 600; i++)); do
        if engine_answers "$n" && bridge_ok "$(engine_bridge "$n")"; then
            break
        fi
        if ((i > 20)) && ! engine_pid "$n" >/dev/null; then
            die_log "engine $n: dockerd exited while starting" "$logfile"
        fi
        sleep 0.1
    done
    engine_answers "$n" || die_log "engine $n: dockerd did not answer within 60s" "$logfile"
    bridge_ok "$(engine_bridge "$n")" || die_log "engine $n: bridge $(engine_bridge "$n") missing after start" "$logfile"
    eval "ENGINE_FRESH_$n=1"
    log "engine $n: started (pid $(engine_pid "$n" || echo '?'), bridge $(engine_bridge "$n"))"
}

engine_stop() {
    local n=$1 pid i
    if pid=$(engine_pid "$n"); then
        kill_wait "$pid" 40
        log "engine $n: stopped"
    elif engine_answers "$n"; then
        die "engine $n answers on $(engine_sock "$n") but its pid file $(engine_pidfile "$n") is unusable; stop it by hand"
    fi
    # A dockerd killed hard can leave its containerd behind.
    local cpid cfile
    if [ "$n" = 1 ]; then cfile=/var/run/docker/containerd/containerd.pid; else cfile=$ENGINE2_EXEC_ROOT/containerd/containerd.pid; fi
    if cpid=$(live_pid "$cfile" containerd); then
        kill_wait "$cpid" 10
    fi
    for ((i = 0; i < 20; i++)); do
        [ -S "$(engine_sock "$n")" ] || break
        engine_answers "$n" || break
        sleep 0.1
    done
}

# Make engine n healthy: running, answering, with its bridge present.
engine_up() {
    local n=$1 bridge i
    bridge=$(engine_bridge "$n")
    if engine_answers "$n"; then
        if bridge_ok "$bridge"; then
            return 0
        fi
        log "engine $n: bridge $bridge is gone while dockerd runs; restarting engine $n"
        engine_stop "$n"
    elif engine_pid "$n" >/dev/null; then
        # Running but not answering yet: maybe still starting.
        for ((i = 0; i < 150; i++)); do
            engine_answers "$n" && break
            sleep 0.1
        done
        if engine_answers "$n" && bridge_ok "$bridge"; then
            return 0
        fi
        log "engine $n: dockerd runs but does not answer or has no bridge; restarting it"
        engine_stop "$n"
    fi
    engine_start "$n"
}

# --- test game image ------------------------------------------------------------

game_sha() {
    [ -f "$GAME_SRC" ] || die "missing $GAME_SRC"
    { cat "$GAME_SRC"; echo "recipe=$IMAGE_RECIPE"; } | sha256sum | cut -c1-64
}

build_rootfs() {
    [ -n "$ROOTFS_TAR" ] && return 0
    local tmp rootfs p
    tmp=$STATE/build
    rm -rf "$tmp"
    rootfs=$tmp/rootfs
    mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,root,home/container,tmp,var/tmp,dev,proc,sys}
    install -m 755 /bin/busybox "$rootfs/bin/busybox"
    for p in $(/bin/busybox --list-full); do
        [ -e "$rootfs/$p" ] || [ -L "$rootfs/$p" ] || ln -s /bin/busybox "$rootfs/$p"
    done
    cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
container:x:1000:1000:container:/home/container:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
    cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
container:x:1000:
nogroup:x:65534:
EOF
    install -m 755 "$GAME_SRC" "$rootfs/usr/local/bin/testgame"
    chown 1000:1000 "$rootfs/home/container"
    chmod 700 "$rootfs/root"
    chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
    tar -C "$rootfs" --numeric-owner -cf "$tmp/rootfs.tar" .
    ROOTFS_TAR=$tmp/rootfs.tar
}

image_sha() {
    dk "$1" image inspect -f '{{index .Config.Labels "hearth.testgame.sha"}}' "$IMAGE" 2>/dev/null || true
}

# A quick console check: commands in, expected lines out.
image_console_check() {
    local n=$1 out
    out=$(printf 'say testenv check\nlist\nstop\n' |
        timeout 60 docker -H "unix://$(engine_sock "$n")" run -i --rm --label hearth.testenv.check=1 "$IMAGE" 2>&1) ||
        die "engine $n: test game console check failed: $out"
    grep -qxF '[Server] testenv check' <<<"$out" &&
        grep -qxF 'There are 0 of a max of 20 players online' <<<"$out" &&
        grep -qxF '[INFO] Stopping server' <<<"$out" ||
        die "engine $n: unexpected test game output: $out"
}

ensure_image() {
    local n=$1 sha
    sha=$(game_sha)
    [ "$(image_sha "$n")" = "$sha" ] && return 0
    build_rootfs
    local old
    old=$(dk "$n" image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
    dk "$n" import \
        --change 'CMD ["/usr/local/bin/testgame"]' \
        --change 'WORKDIR /home/container' \
        --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin' \
        --change 'ENV HOME=/home/container' \
        --change "LABEL hearth.testgame.sha=$sha" \
        --message "hearth test game" \
        "$ROOTFS_TAR" "$IMAGE" >/dev/null
    if [ -n "$old" ]; then
        dk "$n" image rm "$old" >/dev/null 2>&1 || true
    fi
    image_console_check "$n"
    eval "ENGINE_FRESH_$n=1"
    log "engine $n: built $IMAGE (sha ${sha:0:12})"
}

# --- test yolk image ------------------------------------------------------------------

yolk_sha() {
    { cat "$GAME_SRC" "$YOLK_SRC/entrypoint.sh" "$YOLK_SRC/printargs.sh"; sha256sum /bin/bash-static
        echo "recipe=$YOLK_RECIPE"; } | sha256sum | cut -c1-64
}

# The test game's root file system, plus a static bash and the yolk's entrypoint and printargs.
build_yolk_rootfs() {
    [ -n "$YOLK_TAR" ] && return 0
    build_rootfs
    local rootfs=$STATE/build/yolk
    rm -rf "$rootfs"
    mkdir -p "$rootfs"
    tar -C "$rootfs" -xf "$ROOTFS_TAR"
    rm -f "$rootfs/bin/bash"
    install -m 755 /bin/bash-static "$rootfs/bin/bash"
    install -m 755 "$YOLK_SRC/entrypoint.sh" "$rootfs/entrypoint.sh"
    install -m 755 "$YOLK_SRC/printargs.sh" "$rootfs/usr/local/bin/printargs"
    tar -C "$rootfs" --numeric-owner -cf "$STATE/build/yolk.tar" .
    YOLK_TAR=$STATE/build/yolk.tar
}

ensure_yolk_image() {
    local n=$1 sha old out
    sha=$(yolk_sha)
    [ "$(dk "$n" image inspect -f '{{index .Config.Labels "hearth.testyolk.sha"}}' "$YOLK_IMAGE" 2>/dev/null || true)" = "$sha" ] &&
        return 0
    build_yolk_rootfs
    old=$(dk "$n" image inspect -f '{{.Id}}' "$YOLK_IMAGE" 2>/dev/null || true)
    dk "$n" import \
        --change 'CMD ["/bin/bash", "/entrypoint.sh"]' \
        --change 'WORKDIR /home/container' \
        --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin' \
        --change 'ENV HOME=/home/container USER=container' \
        --change "LABEL hearth.testyolk.sha=$sha" \
        --message "hearth test yolk" \
        "$YOLK_TAR" "$YOLK_IMAGE" >/dev/null
    if [ -n "$old" ]; then
        dk "$n" image rm "$old" >/dev/null 2>&1 || true
    fi
    out=$(printf 'stop\n' | timeout 60 docker -H "unix://$(engine_sock "$n")" run -i --rm \
        --label hearth.testenv.check=1 -e 'STARTUP=printargs {{A}} "b c"' -e A=a "$YOLK_IMAGE" 2>&1) ||
        die "engine $n: test yolk check failed: $out"
    grep -qxF '[a]' <<<"$out" && grep -qxF '[b]' <<<"$out" && grep -qxF '[INFO] Stopping server' <<<"$out" ||
        die "engine $n: unexpected test yolk output: $out"
    log "engine $n: built $YOLK_IMAGE (sha ${sha:0:12})"
}

# Real port publishing check: run the game detached with -p and read its banner.
port_check() {
    local n=$1 cid port i line=
    dk "$n" ps -aq --filter label=hearth.testenv.check=1 | xargs -r docker -H "unix://$(engine_sock "$n")" rm -f >/dev/null 2>&1 || true
    cid=$(dk "$n" run -d --label hearth.testenv.check=1 -p 127.0.0.1::25565 "$IMAGE") ||
        die "engine $n: docker run -p failed"
    port=$(dk "$n" port "$cid" 25565/tcp | head -n1 | sed 's/.*://')
    for ((i = 0; i < 100; i++)); do
        line=$(timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; head -n1 <&3' _ "$port" 2>/dev/null) || true
        case $line in hearth-testgame*) break ;; esac
        sleep 0.1
    done
    dk "$n" rm -f "$cid" >/dev/null 2>&1 || true
    case $line in
        hearth-testgame*) ;;
        *)
            log_tail "$(engine_log "$n")" 20
            die "engine $n: port publishing does not work (no banner on 127.0.0.1:$port)"
            ;;
    esac
}

# --- sshd -----------------------------------------------------------------------

sshd_port() { echo $((2200 + $1)); }
sshd_config() { echo "$STATE/etc/sshd$1_config"; }
sshd_pidfile() { echo "$RUNDIR/sshd$1.pid"; }
sshd_hostkey() { echo "$SSH_DIR/host$1/ssh_host_ed25519_key"; }
sshd_pid() { live_pid "$(sshd_pidfile "$1")" "$(sshd_config "$1")"; }

ensure_ssh_keys() {
    chmod 755 "$SSH_DIR"
    if [ ! -f "$SSH_DIR/id_ed25519" ]; then
        rm -f "$SSH_DIR/id_ed25519.pub"
        ssh-keygen -q -t ed25519 -N '' -C hearth-testenv -f "$SSH_DIR/id_ed25519"
    fi
    chmod 600 "$SSH_DIR/id_ed25519"
    local n key want
    want=$(cut -d' ' -f1,2 "$SSH_DIR/id_ed25519.pub")
    if [ "$(cat "$SSH_DIR/authorized_keys" 2>/dev/null)" != "$want" ]; then
        echo "$want" >"$SSH_DIR/authorized_keys"
    fi
    chmod 644 "$SSH_DIR/authorized_keys"
    local kh=
    for n in 1 2; do
        key=$(sshd_hostkey "$n")
        mkdir -p "$(dirname "$key")"
        chmod 700 "$(dirname "$key")"
        if [ ! -f "$key" ]; then
            rm -f "$key.pub"
            ssh-keygen -q -t ed25519 -N '' -C '' -f "$key"
        fi
        kh+="[127.0.0.1]:$(sshd_port "$n") $(cut -d' ' -f1,2 "$key.pub")"$'\n'
    done
    if [ "$(cat "$SSH_DIR/known_hosts" 2>/dev/null)"$'\n' != "$kh" ]; then
        printf '%s' "$kh" >"$SSH_DIR/known_hosts"
    fi
    chmod 644 "$SSH_DIR/known_hosts"
}

write_sshd_config() {
    local n=$1 conf tmp
    conf=$(sshd_config "$n")
    tmp=$conf.new
    cat >"$tmp" <<EOF
# Generated by scripts/testenv.sh: sshd in front of Docker engine $n.
Port $(sshd_port "$n")
ListenAddress 127.0.0.1
AddressFamily inet
HostKey $(sshd_hostkey "$n")
PidFile $(sshd_pidfile "$n")
AuthorizedKeysFile $SSH_DIR/authorized_keys .ssh/authorized_keys
AllowUsers $SSH_USER
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
MaxStartups 200
MaxSessions 100
X11Forwarding no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
PrintMotd no
PrintLastLog no
UseDNS no
LogLevel INFO
SetEnv DOCKER_HOST=unix://$(engine_sock "$n")
Subsystem sftp internal-sftp
EOF
    if cmp -s "$tmp" "$conf"; then
        rm -f "$tmp"
        return 1
    fi
    mv "$tmp" "$conf"
    return 0
}

ssh_cmd() {
    local n=$1
    shift
    timeout 30 ssh -F /dev/null -i "$SSH_DIR/id_ed25519" -p "$(sshd_port "$n")" \
        -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes \
        -o UserKnownHostsFile="$SSH_DIR/known_hosts" -o ConnectTimeout=10 \
        -o LogLevel=ERROR "$SSH_USER@127.0.0.1" "$@" </dev/null
}

# Over ssh, `docker info` must reach the same engine as the local socket.
sshd_check() {
    local n=$1 want got
    want=$(dk "$n" info --format '{{.ID}}' 2>/dev/null) || return 1
    got=$(ssh_cmd "$n" docker info --format '{{.ID}}' 2>&1) || return 1
    [ -n "$want" ] && [ "$want" = "$got" ]
}

sshd_start() {
    local n=$1 logfile i
    logfile=$LOGS/sshd$n.log
    mkdir -p /run/sshd
    chmod 755 /run/sshd
    /usr/sbin/sshd -t -f "$(sshd_config "$n")" 2>>"$logfile" || die_log "sshd $n: bad config" "$logfile"
    spawn "$logfile" /usr/sbin/sshd -D -f "$(sshd_config "$n")" -E "$logfile"
    for ((i = 0; i < 100; i++)); do
        sshd_pid "$n" >/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$(sshd_port "$n")") 2>/dev/null && break
        sleep 0.1
    done
    sshd_pid "$n" >/dev/null || die_log "sshd $n did not start" "$logfile"
    log "sshd $n: started on 127.0.0.1:$(sshd_port "$n")"
}

sshd_stop() {
    local n=$1 pid
    if pid=$(sshd_pid "$n"); then
        # Per-connection sshd processes are children of the listener.
        pkill -TERM -P "$pid" 2>/dev/null || true
        kill_wait "$pid" 10
        log "sshd $n: stopped"
    fi
}

sshd_up() {
    local n=$1 changed=0
    write_sshd_config "$n" && changed=1
    if sshd_pid "$n" >/dev/null; then
        if [ "$changed" = 1 ]; then
            log "sshd $n: config changed; restarting"
            sshd_stop "$n"
            sshd_start "$n"
        fi
    else
        sshd_start "$n"
    fi
    if ! sshd_check "$n"; then
        log "sshd $n: check failed; restarting"
        sshd_stop "$n"
        sshd_start "$n"
        sshd_check "$n" || die_log "sshd $n: 'ssh -p $(sshd_port "$n") $SSH_USER@127.0.0.1 docker info' does not reach engine $n: $(ssh_cmd "$n" docker info --format '{{.ID}}' 2>&1 | tail -n 3)" "$LOGS/sshd$n.log"
    fi
}

# --- postgresql -------------------------------------------------------------------

pg_ok() {
    PGPASSWORD=hearth PGCONNECT_TIMEOUT=5 psql -h 127.0.0.1 -p 5432 -U hearth -d hearth -XtAc \
        "SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user" 2>/dev/null | grep -qx t
}

pg_up() {
    pg_ok && return 0
    local ver port status
    ver=$(ls /usr/lib/postgresql | sort -V | tail -n1)
    [ -n "$ver" ] || die "no PostgreSQL server installed"
    if ! pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" {f = 1} END {exit !f}'; then
        log "postgres: creating cluster $ver/main"
        pg_createcluster "$ver" main --port 5432 --locale C.UTF-8 --encoding UTF8 </dev/null >>"$LOGS/postgres.log" 2>&1 ||
            die_log "pg_createcluster failed" "$LOGS/postgres.log"
    fi
    port=$(pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" {print $3}')
    [ "$port" = 5432 ] || die "postgres cluster $ver/main is configured for port $port, not 5432"
    status=$(pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" {print $4}')
    if [ "$status" != online ]; then
        spawn "$LOGS/postgres.log" pg_ctlcluster "$ver" main start
        local i
        for ((i = 0; i < 300; i++)); do
            as_user postgres psql -p 5432 -XtAc 'SELECT 1' >/dev/null 2>&1 && break
            sleep 0.1
        done
        as_user postgres psql -p 5432 -XtAc 'SELECT 1' >/dev/null 2>&1 ||
            die_log "postgres $ver/main did not start" "/var/log/postgresql/postgresql-$ver-main.log"
        log "postgres: started $ver/main on 127.0.0.1:5432"
    fi
    as_user postgres psql -p 5432 -Xq -v ON_ERROR_STOP=1 >>"$LOGS/postgres.log" 2>&1 <<'SQL' ||
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hearth') THEN
        CREATE ROLE hearth LOGIN PASSWORD 'hearth' CREATEDB;
    ELSE
        ALTER ROLE hearth LOGIN PASSWORD 'hearth' CREATEDB;
    END IF;
END
$$;
SQL
        die_log "postgres: could not create role hearth" "$LOGS/postgres.log"
    local db
    for db in hearth $(for letter in $SHARES; do echo "hearth_$letter"; done); do
        if [ "$(as_user postgres psql -p 5432 -XtAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
            as_user postgres createdb -p 5432 -O hearth "$db"
        fi
    done
    pg_ok || die "postgres: cannot log in as hearth on 127.0.0.1:5432 (check pg_hba.conf)"
}

# The suite's two workers each run a web process, a Celery worker and the monitor beside their tests, as
# parallel runs on the shares do: more connections than PostgreSQL's default 100.
PG_MAX_CONNECTIONS=400

pg_tune() {
    local ver current
    current=$(as_user postgres psql -p 5432 -XtAc 'SHOW max_connections')
    [ "$current" -ge "$PG_MAX_CONNECTIONS" ] && return 0
    ver=$(ls /usr/lib/postgresql | sort -V | tail -n1)
    as_user postgres psql -p 5432 -Xq -c "ALTER SYSTEM SET max_connections = $PG_MAX_CONNECTIONS" >>"$LOGS/postgres.log" 2>&1 ||
        die_log "postgres: could not raise max_connections" "$LOGS/postgres.log"
    pg_ctlcluster "$ver" main restart </dev/null >>"$LOGS/postgres.log" 2>&1 9>&- || die_log "postgres: restart failed" "$LOGS/postgres.log"
    pg_ok || die "postgres: not back after raising max_connections"
    log "postgres: max_connections $current -> $PG_MAX_CONNECTIONS"
}

# --- redis --------------------------------------------------------------------------

redis_ok() {
    [ "$(timeout 5 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]
}

redis_up() {
    redis_ok && return 0
    mkdir -p "$STATE/redis"
    spawn "$LOGS/redis.log" redis-server --bind 127.0.0.1 --port 6379 --daemonize no \
        --pidfile "$REDIS_PIDFILE" --dir "$STATE/redis" --save '' --appendonly no
    local i
    for ((i = 0; i < 100; i++)); do
        redis_ok && break
        sleep 0.1
    done
    redis_ok || die_log "redis did not start" "$LOGS/redis.log"
    log "redis: started on 127.0.0.1:6379"
}

# --- s3 (moto) ------------------------------------------------------------------------

s3_ok() {
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$S3_PORT" 2>/dev/null
}

s3_up() {
    s3_ok && return 0
    [ -x "$MOTO_SERVER" ] || die "s3: $MOTO_SERVER is missing (pip install -e '.[dev]' installs moto[server])"
    spawn "$LOGS/moto.log" "$MOTO_SERVER" -H 127.0.0.1 -p "$S3_PORT"
    local i
    for ((i = 0; i < 100; i++)); do
        s3_ok && break
        sleep 0.1
    done
    s3_ok || die_log "moto_server did not start" "$LOGS/moto.log"
    pgrep -f "moto_server -H 127.0.0.1 -p $S3_PORT" | head -n1 >"$S3_PIDFILE" || true
    log "s3: moto_server started on 127.0.0.1:$S3_PORT"
}

s3_stop() {
    local pid
    if pid=$(live_pid "$S3_PIDFILE" moto_server); then
        kill_wait "$pid" 10
        log "s3: stopped"
    fi
}

# The S3 values of one env file: each file its own bucket (its tests may empty it).
s3_env() {
    cat <<EOF
export HEARTH_BACKUP_S3_ENDPOINT='http://127.0.0.1:$S3_PORT'
export HEARTH_BACKUP_S3_BUCKET='$1'
export HEARTH_BACKUP_S3_ACCESS_KEY='hearth'
export HEARTH_BACKUP_S3_SECRET_KEY='hearth-secret'
export HEARTH_BACKUP_S3_REGION='us-east-1'
EOF
}

# The shares of the environment (env-a…env-f): the suite's second xdist worker (tests/worker_env.py) and
# parallel runs each get their own database, Redis database, cache prefix and bucket; the rest is shared.
write_env_shares() {
    local letter index=0 tmp
    for letter in $SHARES; do
        index=$((index + 1))
        tmp=$ENV_FILE-$letter.new
        {
            grep -v '^export \(DATABASE_URL\|REDIS_URL\|HEARTH_CACHE_PREFIX\|HEARTH_BACKUP_S3_BUCKET\)=' "$ENV_FILE"
            echo "export DATABASE_URL='postgres://hearth:hearth@127.0.0.1:5432/hearth_$letter'"
            echo "export REDIS_URL='redis://127.0.0.1:6379/$index'"
            echo "export HEARTH_CACHE_PREFIX='hearth$letter'"
            echo "export HEARTH_BACKUP_S3_BUCKET='hearth-test-$letter'"
        } >"$tmp"
        chmod 644 "$tmp"
        mv "$tmp" "$ENV_FILE-$letter"
    done
}

# --- mariadb ------------------------------------------------------------------------

mariadb_ok() {
    timeout 10 mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P 3306 -u hearth_admin -phearth \
        -NBe 'SHOW GRANTS' 2>/dev/null | grep -q 'WITH GRANT OPTION'
}

mariadb_root() {
    mariadb --no-defaults --socket="$MARIADB_SOCK" -u root "$@"
}

mariadb_up() {
    mariadb_ok && return 0
    local logfile=$LOGS/mariadb.log i
    if ! mariadb-admin --no-defaults --socket="$MARIADB_SOCK" -u root ping >/dev/null 2>&1; then
        if [ ! -d "$MARIADB_DATA/mysql" ]; then
            log "mariadb: initialising $MARIADB_DATA"
            rm -rf "$MARIADB_DATA"
            mkdir -p "$MARIADB_DATA"
            chown mysql:mysql "$MARIADB_DATA"
            mariadb-install-db --no-defaults --datadir="$MARIADB_DATA" --user=mysql \
                --auth-root-authentication-method=socket --skip-test-db \
                </dev/null >>"$LOGS/mariadb-install.log" 2>&1 ||
                die_log "mariadb-install-db failed" "$LOGS/mariadb-install.log"
        fi
        mkdir -p /run/mysqld
        chown mysql:mysql /run/mysqld
        touch "$logfile"
        chown mysql:mysql "$logfile"
        spawn "$logfile" mariadbd --no-defaults --user=mysql --datadir="$MARIADB_DATA" \
            --bind-address=127.0.0.1 --port=3306 --socket="$MARIADB_SOCK" \
            --pid-file="$MARIADB_PIDFILE" --log-error="$logfile" --skip-name-resolve \
            --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
            --max-connections=500
        for ((i = 0; i < 300; i++)); do
            mariadb-admin --no-defaults --socket="$MARIADB_SOCK" -u root ping >/dev/null 2>&1 && break
            sleep 0.1
        done
        mariadb-admin --no-defaults --socket="$MARIADB_SOCK" -u root ping >/dev/null 2>&1 ||
            die_log "mariadb did not start" "$logfile"
        log "mariadb: started on 127.0.0.1:3306"
    fi
    local anon drop=""
    anon=$(mariadb_root -NBe "SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.user WHERE User = ''") ||
        die "mariadb: cannot connect as root over $MARIADB_SOCK"
    [ -n "$anon" ] && drop="DROP USER $(paste -sd, <<<"$anon");"
    mariadb_root <<SQL || die "mariadb: could not create hearth_admin"
$drop
CREATE USER IF NOT EXISTS 'hearth_admin'@'%' IDENTIFIED BY 'hearth';
CREATE USER IF NOT EXISTS 'hearth_admin'@'localhost' IDENTIFIED BY 'hearth';
ALTER USER 'hearth_admin'@'%' IDENTIFIED BY 'hearth';
ALTER USER 'hearth_admin'@'localhost' IDENTIFIED BY 'hearth';
GRANT ALL PRIVILEGES ON *.* TO 'hearth_admin'@'%' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'hearth_admin'@'localhost' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
    mariadb_ok || die "mariadb: cannot log in as hearth_admin on 127.0.0.1:3306"
}

mariadb_stop() {
    local pid
    if pid=$(live_pid "$MARIADB_PIDFILE" mariadbd); then
        kill_wait "$pid" 30
        log "mariadb: stopped"
    fi
}

# --- env file -------------------------------------------------------------------------

write_env() {
    local hk1 hk2 tmp
    hk1=$(cut -d' ' -f1,2 "$(sshd_hostkey 1).pub")
    hk2=$(cut -d' ' -f1,2 "$(sshd_hostkey 2).pub")
    tmp=$ENV_FILE.new
    cat >"$tmp" <<EOF
# Written by scripts/testenv.sh; source it before running the tests.
export DATABASE_URL='postgres://hearth:hearth@127.0.0.1:5432/hearth'
export REDIS_URL='redis://127.0.0.1:6379/0'
export HEARTH_TEST_MARIADB_URL='mysql://hearth_admin:hearth@127.0.0.1:3306'
export HEARTH_TEST_DOCKER1_URL='unix://$ENGINE1_SOCK'
export HEARTH_TEST_DOCKER2_URL='unix://$ENGINE2_SOCK'
export HEARTH_TEST_SSH1_URL='ssh://$SSH_USER@127.0.0.1:$(sshd_port 1)'
export HEARTH_TEST_SSH2_URL='ssh://$SSH_USER@127.0.0.1:$(sshd_port 2)'
export HEARTH_TEST_SSH_KEY='$SSH_DIR/id_ed25519'
export HEARTH_TEST_SSH_KNOWN_HOSTS='$SSH_DIR/known_hosts'
export HEARTH_TEST_SSH1_HOSTKEY='$hk1'
export HEARTH_TEST_SSH2_HOSTKEY='$hk2'
export HEARTH_TEST_NODE1_DATA_DIR='$NODE1_DATA_DIR'
export HEARTH_TEST_NODE2_DATA_DIR='$NODE2_DATA_DIR'
export HEARTH_TEST_IMAGE='$IMAGE'
export HEARTH_TEST_YOLK_IMAGE='$YOLK_IMAGE'
export HEARTH_TEST_DOCKER1_BRIDGE='$ENGINE1_BRIDGE'
export HEARTH_TEST_DOCKER2_BRIDGE='$ENGINE2_BRIDGE'
EOF
    s3_env hearth-test >>"$tmp"
    chmod 644 "$tmp"
    mv "$tmp" "$ENV_FILE"
    write_env_shares
}

# --- commands -----------------------------------------------------------------------

check_n() {
    case ${1:-} in 1 | 2) ;; *) die "expected engine number 1 or 2, got '${1:-}'" ;; esac
}

engine_ready() {
    local n=$1
    engine_up "$n"
    if [ "$n" = 1 ]; then
        ensure_engine2_forwarding
    fi
    ensure_image "$n"
    ensure_yolk_image "$n"
    if [ "$(eval echo "\$ENGINE_FRESH_$n")" = 1 ]; then
        port_check "$n"
    fi
}

elapsed() {
    awk -v s="$START_TIME" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}'
}

cmd_up() {
    install_packages
    ensure_chromium
    ensure_users
    engine_ready 1
    engine_ready 2
    ensure_ssh_keys
    sshd_up 1
    sshd_up 2
    pg_up
    pg_tune
    redis_up
    mariadb_up
    s3_up
    write_env
    [ -z "$ROOTFS_TAR" ] || rm -rf "$STATE/build"
    log "ready in $(elapsed)s; env file: $ENV_FILE"
}

cmd_status() {
    local bad=0 n pid state
    for n in 1 2; do
        if engine_answers "$n"; then
            state="running (pid $(engine_pid "$n" || echo '?'), $(engine_sock "$n"))"
            if bridge_ok "$(engine_bridge "$n")"; then
                state+=", bridge $(engine_bridge "$n") up"
            else
                state+=", bridge $(engine_bridge "$n") MISSING"
                bad=1
            fi
            if [ "$(image_sha "$n")" = "$(game_sha)" ]; then
                state+=", $IMAGE current"
            else
                state+=", $IMAGE missing or outdated"
                bad=1
            fi
        else
            state=stopped
            bad=1
        fi
        log "engine $n: $state"
    done
    for n in 1 2; do
        if pid=$(sshd_pid "$n"); then
            log "sshd $n: running (pid $pid, 127.0.0.1:$(sshd_port "$n"))"
        else
            log "sshd $n: stopped"
            bad=1
        fi
    done
    if pg_ok; then log "postgres: running (127.0.0.1:5432)"; else log "postgres: stopped"; bad=1; fi
    if redis_ok; then log "redis: running (127.0.0.1:6379)"; else log "redis: stopped"; bad=1; fi
    if mariadb_ok; then log "mariadb: running (127.0.0.1:3306)"; else log "mariadb: stopped"; bad=1; fi
    if s3_ok; then log "s3: running (127.0.0.1:$S3_PORT)"; else log "s3: stopped"; bad=1; fi
    if [ -f "$ENV_FILE" ]; then log "env file: $ENV_FILE"; else log "env file: missing"; bad=1; fi
    return "$bad"
}

cmd_down() {
    local pid ver
    sshd_stop 2
    sshd_stop 1
    engine_stop 2
    engine_stop 1
    if pid=$(live_pid "$REDIS_PIDFILE" redis-server); then
        kill_wait "$pid" 10
        log "redis: stopped"
    fi
    mariadb_stop
    s3_stop
    for ver in $(ls /usr/lib/postgresql 2>/dev/null); do
        if pg_lsclusters -h 2>/dev/null | awk -v v="$ver" '$1 == v && $2 == "main" && $4 == "online" {f = 1} END {exit !f}'; then
            pg_ctlcluster "$ver" main stop </dev/null >>"$LOGS/postgres.log" 2>&1 9>&- || true
            log "postgres: stopped"
        fi
    done
}

main() {
    local cmd=${1:-up}
    need_root
    case $cmd in
        status)
            cmd_status
            return
            ;;
        -h | --help | help)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
            return
            ;;
    esac
    prepare_dirs
    take_lock
    case $cmd in
        up) cmd_up ;;
        down) cmd_down ;;
        start-engine)
            check_n "${2:-}"
            engine_ready "$2"
            ;;
        stop-engine)
            check_n "${2:-}"
            engine_stop "$2"
            ;;
        start-sshd)
            check_n "${2:-}"
            ensure_ssh_keys
            sshd_up "$2"
            ;;
        stop-sshd)
            check_n "${2:-}"
            sshd_stop "$2"
            ;;
        *) die "unknown command '$cmd' (try: up, status, down, start-engine N, stop-engine N, start-sshd N, stop-sshd N)" ;;
    esac
}

main "$@"
