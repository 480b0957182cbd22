#!/bin/sh
# Hearth node enrollment. Run as root on a fresh Debian or Ubuntu host:
#   curl -fsSL '<this URL>' | sh
# It installs Docker from the distribution, creates the "hearth" user (in the docker group) with the
# panel's public key, creates the data directory and tells the panel this host's SSH host key.
# Environment overrides: HEARTH_USER, HEARTH_SSH_PORT, HEARTH_SSH_HOST_KEY_FILE, HEARTH_HOSTNAME.
#
# The panel's values are the single-quoted assignments below (nodes/enrollment.py quotes each one);
# nothing else in this file comes from the panel.
set -eu
[ "$(id -u)" = 0 ] || { echo "hearth: run this as root" >&2; exit 1; }

# @values@

HEARTH_USER="${HEARTH_USER:-hearth}"
HEARTH_SSH_PORT="${HEARTH_SSH_PORT:-22}"
HEARTH_SSH_HOST_KEY_FILE="${HEARTH_SSH_HOST_KEY_FILE:-/etc/ssh/ssh_host_ed25519_key.pub}"
HEARTH_HOSTNAME="${HEARTH_HOSTNAME:-}"

say() { printf 'hearth: %s\n' "$*"; }
fail() { printf 'hearth: %s\n' "$*" >&2; exit 1; }
case "$HEARTH_SSH_PORT" in '' | *[!0-9]*) fail "HEARTH_SSH_PORT must be a number" ;; esac
case "$HEARTH_USER" in '' | -* | *[!a-z0-9_-]*) fail "HEARTH_USER must be a Unix user name" ;; esac
# One line: a key with a line break in it would be two authorized_keys entries.
case "$PUBLIC_KEY" in '' | *"
"*) fail "the panel's key is not one line" ;; esac
say "enrolling this host as node $NODE_NAME"

need=""
command -v docker >/dev/null 2>&1 || need="$need docker.io"
[ -x /usr/sbin/sshd ] || need="$need openssh-server"
command -v curl >/dev/null 2>&1 || need="$need curl"
if [ -n "$need" ]; then
  say "installing$need"
  apt-get update -qq
  # shellcheck disable=SC2086 # a list of package names, split on purpose
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi

getent group docker >/dev/null || groupadd --system docker
if ! id "$HEARTH_USER" >/dev/null 2>&1; then
  say "creating user $HEARTH_USER"
  useradd --create-home --shell /bin/sh -- "$HEARTH_USER"
fi
usermod -aG docker -- "$HEARTH_USER"

home=$(getent passwd "$HEARTH_USER" | cut -d: -f6)
install -d -m 700 -o "$HEARTH_USER" -- "$home/.ssh"
touch -- "$home/.ssh/authorized_keys"
grep -qxF -e "$PUBLIC_KEY" -- "$home/.ssh/authorized_keys" \
  || printf '%s\n' "$PUBLIC_KEY" >> "$home/.ssh/authorized_keys"
chown -- "$HEARTH_USER" "$home/.ssh/authorized_keys"
chmod 600 -- "$home/.ssh/authorized_keys"

install -d -m 750 -o "$HEARTH_USER" -- "$DATA_DIR" "$DATA_DIR/servers"

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl enable --now docker >/dev/null 2>&1 || true
  systemctl enable --now ssh >/dev/null 2>&1 || true
fi

[ -r "$HEARTH_SSH_HOST_KEY_FILE" ] || fail "no SSH host key at $HEARTH_SSH_HOST_KEY_FILE"
host_key=$(cut -d' ' -f1,2 -- "$HEARTH_SSH_HOST_KEY_FILE")

say "registering with the panel"
# Form fields, each URL-encoded by curl: no value is pasted into a request body by hand.
curl -sS --fail-with-body -X POST \
  --data-urlencode "hostKey=$host_key" \
  --data-urlencode "sshUser=$HEARTH_USER" \
  --data-urlencode "sshPort=$HEARTH_SSH_PORT" \
  --data-urlencode "hostname=$HEARTH_HOSTNAME" \
  -- "$CALLBACK"
echo
say "done"
