#!/usr/bin/env bash
# Create the virtualenv, installing Debian's venv module first when we may (root) and it is missing.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
if [ -x "$venv/bin/python" ]; then exit 0; fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Hearth needs Python 3.11 or newer; '$python' is $("$python" --version 2>&1)." >&2
  exit 1
fi
if ! "$python" -m venv "$venv" 2>/dev/null; then
  rm -rf "$venv"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing python3-venv with apt..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    "$python" -m venv "$venv"
  else
    echo "Python's venv module is missing: run 'sudo apt install python3-venv' and try again." >&2
    exit 1
  fi
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
