#!/bin/sh
# Hearth node enrollment for "{{ node.name }}". Run as root on a fresh Debian or Ubuntu host:
#   curl -fsSL '<this URL>' | sh
# It installs Docker from the distribution, creates the "hearth" user (in the docker group) with the
# panel's public key, creates the data directory and tells the panel this host's SSH host key.
# Environment overrides: HEARTH_USER, HEARTH_SSH_PORT, HEARTH_SSH_HOST_KEY_FILE, HEARTH_HOSTNAME.
set -eu
{% autoescape off %}
HEARTH_USER="${HEARTH_USER:-hearth}"
HEARTH_SSH_PORT="${HEARTH_SSH_PORT:-22}"
HEARTH_SSH_HOST_KEY_FILE="${HEARTH_SSH_HOST_KEY_FILE:-/etc/ssh/ssh_host_ed25519_key.pub}"
HEARTH_HOSTNAME="${HEARTH_HOSTNAME:-}"
DATA_DIR='{{ data_dir }}'
PUBLIC_KEY='{{ public_key }}'
CALLBACK='{{ callback_url }}'

say() { echo "hearth: $*"; }
[ "$(id -u)" = 0 ] || { echo "hearth: run this as root" >&2; exit 1; }

need=""
command -v docker >/dev/null 2>&1 || need="$need docker.io"
[ -x /usr/sbin/sshd ] || need="$need openssh-server"
command -v curl >/dev/null 2>&1 || need="$need curl"
if [ -n "$need" ]; then
  say "installing$need"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi

getent group docker >/dev/null || groupadd --system docker
if ! id "$HEARTH_USER" >/dev/null 2>&1; then
  say "creating user $HEARTH_USER"
  useradd --create-home --shell /bin/sh "$HEARTH_USER"
fi
usermod -aG docker "$HEARTH_USER"

home=$(getent passwd "$HEARTH_USER" | cut -d: -f6)
install -d -m 700 -o "$HEARTH_USER" "$home/.ssh"
touch "$home/.ssh/authorized_keys"
grep -qxF "$PUBLIC_KEY" "$home/.ssh/authorized_keys" || echo "$PUBLIC_KEY" >> "$home/.ssh/authorized_keys"
chown "$HEARTH_USER" "$home/.ssh/authorized_keys"
chmod 600 "$home/.ssh/authorized_keys"

install -d -m 750 -o "$HEARTH_USER" "$DATA_DIR" "$DATA_DIR/servers"

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl enable --now docker >/dev/null 2>&1 || true
  systemctl enable --now ssh >/dev/null 2>&1 || true
fi

[ -r "$HEARTH_SSH_HOST_KEY_FILE" ] || { echo "hearth: no SSH host key at $HEARTH_SSH_HOST_KEY_FILE" >&2; exit 1; }
host_key=$(cut -d' ' -f1,2 "$HEARTH_SSH_HOST_KEY_FILE")

say "registering with the panel"
curl -sS --fail-with-body -X POST "$CALLBACK" -H 'Content-Type: application/json' \
  -d "{\"hostKey\": \"$host_key\", \"sshUser\": \"$HEARTH_USER\", \"sshPort\": $HEARTH_SSH_PORT, \"hostname\": \"$HEARTH_HOSTNAME\"}"
echo
say "done"
{% endautoescape %}
