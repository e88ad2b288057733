#!/usr/bin/env bash
# Installs memos-py and everything it needs into ./.venv, from nothing but Python 3.11 and PyPI.
#   scripts/bootstrap.sh            runtime only
#   scripts/bootstrap.sh --dev      runtime + test tools
#   scripts/bootstrap.sh --tools    only uv in ./.tools (scripts/build-image.sh: the venv stays as it is)
# uv (pinned, from PyPI) is kept in ./.tools so it never lands in the project's exact-synced venv.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
export UV_PYTHON_DOWNLOADS=never   # use the machine's Python; never fetch one
PYTHON=${PYTHON:-python3}

log() { echo "[bootstrap] $*" >&2; }

have_venv() { "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; }

if ! command -v "$PYTHON" >/dev/null; then
  log "$PYTHON not found: install Python 3.11 (apt-get install -y python3 python3-venv)"; exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  log "Python >= 3.11 is required, found $("$PYTHON" --version)"; exit 1
fi
if ! have_venv; then
  # Debian splits venv/ensurepip out of python3.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing python3-venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    log "python venv support is missing: sudo apt-get install -y python3-venv"; exit 1
  fi
fi

if [ ! -x .tools/bin/uv ] || [ "$(.tools/bin/uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  log "installing uv $UV_VERSION into .tools"
  rm -rf .tools
  "$PYTHON" -m venv .tools
  .tools/bin/python -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
fi

[ "${1:-}" = "--tools" ] && exit 0

sync_args=(sync --locked --all-packages --all-extras --python "$PYTHON")
[ "${1:-}" = "--dev" ] || sync_args+=(--no-dev)
log "uv ${sync_args[*]}"
.tools/bin/uv "${sync_args[@]}" -q
