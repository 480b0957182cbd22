#!/bin/sh
# Hearth test game server.
#
# A tiny fake game server used by Hearth's tests. It runs under busybox sh
# inside the image hearth/testgame:latest, which scripts/testenv.sh builds with
# `docker import` from Debian's busybox-static (no registry needed). It is
# installed as /usr/local/bin/testgame and is the image's default CMD; the
# working directory is /home/container.
#
# Environment:
#   SERVER_PORT    TCP port to listen on (default 25565). Every connection
#                  receives one line: "hearth-testgame 1.0 players=0/<max>".
#   STARTUP_DELAY  seconds to wait before the "Done" line (default 0).
#
# Console (stdout), in order at startup:
#   [INFO] Starting test game server version 1.0
#   [INFO] Loading properties
#   [INFO] server.properties does not exist, creating it      (first start only)
#   [INFO] Starting game server on 0.0.0.0:<port>
#   [INFO] Preparing level "world"
#   [INFO] Generating new world                               (first start)
#   [INFO] Loading existing world (start number <n>)          (later starts)
#   [INFO] Done (0.123s)! For help, type "help"
#
# Commands, one per line on stdin:
#   say <text>    -> [Server] <text>
#   list          -> There are 0 of a max of <max-players> players online
#   help          -> [INFO] Commands: ...
#   env <NAME>    -> [INFO] NAME=value   or   [INFO] NAME is not set
#   stop          -> [INFO] Stopping server, exit 0
#   crash         -> [ERROR] Encountered an unexpected exception (stdout),
#                    java.lang.RuntimeException: Simulated crash (stderr), exit 1
#   flood <n>     -> n lines "flood line <i> <padding>", then
#                    [INFO] Flood of <n> lines done
#   forkbomb [n]  -> tries to start n (default 1000) background sleeps, then
#                    kills them again and prints either
#                    [INFO] Forkbomb: spawned <n> processes   or
#                    [WARN] Forkbomb: fork failed after <k> processes
#   sleepstop     -> [INFO] The next stop will hang; the next stop (command,
#                    SIGTERM or SIGINT) prints "[INFO] Stopping server" and then
#                    hangs ignoring SIGTERM/SIGINT (only SIGKILL ends it)
#   anything else -> Unknown command. Type "help" for help.
# SIGTERM / SIGINT -> [INFO] Stopping server, exit 0.
# When stdin reaches EOF the server keeps running (console detached) until it
# gets a signal.
#
# Files in the working directory: server.properties (created if missing;
# max-players is read from it) and world/level.dat (created if missing; its
# "starts" counter goes up by one at every start).

VERSION=1.0
SELF=$0
PAD=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP

out() { printf '%s\n' "$*"; }

max_players() {
    MAX=20
    [ -r server.properties ] || return 0
    while IFS='=' read -r key value || [ -n "$key" ]; do
        case $key in
            max-players)
                case $value in ''|*[!0-9]*) ;; *) MAX=$value ;; esac ;;
        esac
    done < server.properties
}

if [ "${1:-}" = "--query" ]; then
    # Connection handler for the game port (run by `nc -ll -e`).
    max_players
    out "hearth-testgame $VERSION players=0/$MAX"
    exit 0
fi

PORT=${SERVER_PORT:-25565}
DELAY=${STARTUP_DELAY:-0}
HANG_ON_STOP=0
NC_PID=
SLEEP_PID=
CR=$(printf '\r')

cleanup() {
    [ -n "$SLEEP_PID" ] && kill "$SLEEP_PID" 2>/dev/null
    [ -n "$NC_PID" ] && kill "$NC_PID" 2>/dev/null
    SLEEP_PID=
    NC_PID=
}

hang_forever() {
    trap '' TERM INT HUP
    while :; do
        sleep 3600 &
        SLEEP_PID=$!
        wait "$SLEEP_PID"
    done
}

shutdown() {
    out "[INFO] Stopping server"
    if [ "$HANG_ON_STOP" = 1 ]; then
        hang_forever
    fi
    if [ -f world/level.dat ]; then
        out "stopped=$(date +%s)" >> world/level.dat 2>/dev/null
    fi
    cleanup
    exit 0
}

crash() {
    out "[ERROR] Encountered an unexpected exception"
    out "java.lang.RuntimeException: Simulated crash" >&2
    cleanup
    exit 1
}

trap shutdown TERM INT
trap '' HUP

is_number() {
    case $1 in ''|*[!0-9]*) return 1 ;; *) return 0 ;; esac
}

flood() {
    if ! is_number "$1"; then
        out "[ERROR] Usage: flood <n>"
        return
    fi
    i=1
    while [ "$i" -le "$1" ]; do
        printf 'flood line %d %s\n' "$i" "$PAD"
        i=$((i + 1))
    done
    out "[INFO] Flood of $1 lines done"
}

forkbomb() {
    n=${1:-1000}
    if ! is_number "$n" || [ "$n" -gt 10000 ]; then
        out "[ERROR] Usage: forkbomb [n<=10000]"
        return
    fi
    list=/tmp/.testgame-forkbomb.$$
    : > "$list"
    # The loop runs in a subshell: when fork fails there (pids limit), only the
    # subshell dies, not the server.
    (
        i=0
        while [ "$i" -lt "$n" ]; do
            sleep 60 &
            echo "$!" >> "$list"
            i=$((i + 1))
        done
    ) 2>/dev/null
    # Count and kill with builtins only (no fork needed while the limit is hit).
    count=0
    while read -r pid; do
        count=$((count + 1))
        kill "$pid" 2>/dev/null
    done < "$list"
    rm -f "$list"
    if [ "$count" -ge "$n" ]; then
        out "[INFO] Forkbomb: spawned $count processes"
    else
        out "[WARN] Forkbomb: fork failed after $count processes"
    fi
}

show_env() {
    case $1 in
        ''|[0-9]*|*[!A-Za-z0-9_]*)
            out "[ERROR] Usage: env <NAME>"
            return ;;
    esac
    if eval "[ -n \"\${$1+set}\" ]"; then
        eval "value=\$$1"
        out "[INFO] $1=$value"
    else
        out "[INFO] $1 is not set"
    fi
}

handle() {
    cmd=$1
    rest=$2
    case $cmd in
        say) out "[Server] $rest" ;;
        list) out "There are 0 of a max of $MAX players online" ;;
        help) out "[INFO] Commands: help, list, say <text>, env <NAME>, stop, crash, flood <n>, forkbomb [n], sleepstop" ;;
        env) show_env "$rest" ;;
        stop) shutdown ;;
        crash) crash ;;
        flood) flood "$rest" ;;
        forkbomb) forkbomb "$rest" ;;
        sleepstop)
            HANG_ON_STOP=1
            out "[INFO] The next stop will hang" ;;
        *) out 'Unknown command. Type "help" for help.' ;;
    esac
}

# --- startup -----------------------------------------------------------------

out "[INFO] Starting test game server version $VERSION"
out "[INFO] Loading properties"
if [ ! -f server.properties ]; then
    out "[INFO] server.properties does not exist, creating it"
    if ! {
        out "#Hearth test game server properties"
        out "server-port=$PORT"
        out "max-players=20"
        out "motd=A Hearth test server"
        out "level-name=world"
    } 2>/dev/null > server.properties; then
        out "[ERROR] Failed to write server.properties in $(pwd): permission denied"
        exit 1
    fi
fi
max_players

if ! is_number "$PORT" || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
    out "[ERROR] Invalid SERVER_PORT: $PORT"
    exit 1
fi
out "[INFO] Starting game server on 0.0.0.0:$PORT"
nc -ll -p "$PORT" -e "$SELF" --query </dev/null >/dev/null 2>&1 &
NC_PID=$!
usleep 200000
if ! kill -0 "$NC_PID" 2>/dev/null; then
    NC_PID=
    out "[WARN] **** FAILED TO BIND TO PORT!"
    out "[ERROR] Could not listen on 0.0.0.0:$PORT"
    exit 1
fi

out "[INFO] Preparing level \"world\""
starts=0
seed=
if [ -f world/level.dat ]; then
    while IFS='=' read -r key value || [ -n "$key" ]; do
        case $key in
            starts) is_number "$value" && starts=$value ;;
            seed) seed=$value ;;
        esac
    done < world/level.dat
    starts=$((starts + 1))
    out "[INFO] Loading existing world (start number $starts)"
else
    starts=1
    out "[INFO] Generating new world"
fi
[ -n "$seed" ] || seed=$(( $(date +%s) % 100000 ))
if ! { mkdir -p world && {
        out "name=world"
        out "seed=$seed"
        out "starts=$starts"
    } > world/level.dat; } 2>/dev/null; then
    out "[ERROR] Failed to write world/level.dat in $(pwd): permission denied"
    cleanup
    exit 1
fi

if is_number "$DELAY" && [ "$DELAY" -gt 0 ]; then
    sleep "$DELAY" &
    SLEEP_PID=$!
    wait "$SLEEP_PID"
    SLEEP_PID=
fi
out '[INFO] Done (0.123s)! For help, type "help"'

# --- console -----------------------------------------------------------------

while :; do
    cmd=
    rest=
    if IFS=' 	' read -r cmd rest; then eof=0; else eof=1; fi
    rest=${rest%"$CR"}
    cmd=${cmd%"$CR"}
    [ -n "$cmd" ] && handle "$cmd" "$rest"
    [ "$eof" = 1 ] && break
done

# stdin closed: keep running headless until a signal arrives.
while :; do
    sleep 3600 &
    SLEEP_PID=$!
    wait "$SLEEP_PID"
    SLEEP_PID=
done
