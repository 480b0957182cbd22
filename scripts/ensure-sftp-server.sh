#!/usr/bin/env bash
# The files image (nodes/client/files_image.py) is built from the panel's own OpenSSH sftp-server, and
# the tools image of backups (nodes/client/tools_image.py) from its own tar, gzip, zstd and openssl:
# install Debian's openssh-sftp-server, zstd and openssl when we may (root) and they are missing, as ensure-python.sh
# does for venv.
set -euo pipefail
cd "$(dirname "$0")/.."
may_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }
if ! command -v zstd >/dev/null || ! command -v openssl >/dev/null; then
  if may_apt; then
    echo "Installing zstd and openssl with apt (backups are made and checksummed with them on the nodes)..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zstd openssl >/dev/null
  else
    echo "zstd or openssl is missing: backups need both. Run 'sudo apt install zstd openssl'." >&2
    exit 1
  fi
fi
sftp_server=${HEARTH_FILES_SFTP_SERVER:-$( (sed -n 's/^HEARTH_FILES_SFTP_SERVER=//p' .env 2>/dev/null || true) | tail -n1)}
sftp_server=${sftp_server:-/usr/lib/openssh/sftp-server}
if [ -x "$sftp_server" ]; then exit 0; fi
if [ "$sftp_server" = /usr/lib/openssh/sftp-server ] && may_apt; then
  echo "Installing openssh-sftp-server with apt (the file manager and SFTP run it in a helper container)..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-sftp-server >/dev/null
  exit 0
fi
echo "OpenSSH's sftp-server is missing at $sftp_server: the file manager and SFTP need it." >&2
echo "Run 'sudo apt install openssh-sftp-server' (or set HEARTH_FILES_SFTP_SERVER to its path) and try again." >&2
exit 1
