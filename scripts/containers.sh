#!/usr/bin/env bash
# The container tools memos-py's image is built and tested with on a Debian machine without a Docker
# daemon: Debian's podman (run with runc), debootstrap (the local base image), systemd-analyze
# (checks deploy/memos.service), and podman-compose from PyPI (Debian's 1.0.3 knows neither
# profiles nor `config`) in its own venv under build/.
#
#   scripts/containers.sh install                 install whichever of them is missing (apt-get: root)
#   scripts/containers.sh conf                    print the path of the containers.conf below
#   scripts/containers.sh podman ARGS...          podman with that configuration
#   scripts/containers.sh compose ARGS...         podman-compose with that configuration
#
# The configuration (CONTAINERS_CONF, so podman-compose's and healthchecks' podman calls get it too):
# runc, as crun refuses a cgroup v1 hybrid layout; the cgroupfs manager, as the systemd one needs a
# running systemd; and ulimits within the host's hard limits, as podman's defaults exceed them
# ("setrlimit RLIMIT_NOFILE: Operation not permitted"). Elsewhere plain podman or docker works.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd) # not cd'ed into: relative paths in ARGS stay the caller's
PODMAN_COMPOSE_VERSION=1.6.0
COMPOSE_VENV=$ROOT/build/tools/podman-compose
CONF=$ROOT/build/tools/containers.conf

say() { echo "[containers] $*" >&2; }
die() { say "$*"; exit 1; }

missing_packages() {
  local pkgs=()
  command -v podman >/dev/null || pkgs+=(podman)
  command -v runc >/dev/null || pkgs+=(runc)
  command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || pkgs+=(debootstrap)
  command -v systemd-analyze >/dev/null || pkgs+=(systemd)
  echo "${pkgs[*]}"
}

compose_installed() {
  [ "$("$COMPOSE_VENV/bin/python" -c 'from importlib.metadata import version; print(version("podman-compose"))' 2>/dev/null)" \
    = "$PODMAN_COMPOSE_VERSION" ]
}

install() {
  local pkgs
  pkgs=$(missing_packages)
  if [ -n "$pkgs" ]; then
    [ "$(id -u)" = 0 ] || die "missing $pkgs: run 'sudo apt-get install -y $pkgs'"
    command -v apt-get >/dev/null || die "missing $pkgs and this is not a Debian-like system: install them"
    export DEBIAN_FRONTEND=noninteractive
    # Refresh the package lists only when apt does not know podman yet (a fresh image has none).
    if ! apt-cache show podman >/dev/null 2>&1; then
      say "apt-get update"
      apt-get update -qq
    fi
    say "installing $pkgs"
    # shellcheck disable=SC2086 # a list of package names
    apt-get install -y -qq $pkgs >/dev/null 2>&1 || apt-get install -y $pkgs
    pkgs=$(missing_packages)
    [ -z "$pkgs" ] || die "apt-get ran but these are still missing: $pkgs"
  fi
  if ! compose_installed; then
    say "installing podman-compose $PODMAN_COMPOSE_VERSION into $COMPOSE_VENV"
    rm -rf "$COMPOSE_VENV"
    python3 -m venv "$COMPOSE_VENV"
    "$COMPOSE_VENV/bin/python" -m pip install -qq --disable-pip-version-check "podman-compose==$PODMAN_COMPOSE_VERSION"
    compose_installed || die "podman-compose $PODMAN_COMPOSE_VERSION did not install into $COMPOSE_VENV"
  fi
}

# The host's hard limit $1, at most $2.
capped_limit() {
  local value
  value=$(ulimit -H "$1")
  if [ "$value" = unlimited ] || [ "$value" -gt "$2" ]; then value=$2; fi
  echo "$value"
}

write_conf() {
  local nofile nproc tmp
  nofile=$(capped_limit -n 1048576)
  nproc=$(capped_limit -u 4096) # runc may not set RLIMIT_NPROC as high as the host's limit
  mkdir -p "$(dirname "$CONF")"
  tmp=$(mktemp "$CONF.XXXXXX")
  cat >"$tmp" <<EOF
# Written by scripts/containers.sh for this machine.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF
  mv "$tmp" "$CONF"
  echo "$CONF"
}

case "${1:-}" in
  install) install ;;
  conf) write_conf ;;
  podman) shift; CONTAINERS_CONF=$(write_conf) exec podman "$@" ;;
  compose)
    shift
    compose_installed || die "no podman-compose $PODMAN_COMPOSE_VERSION: run scripts/containers.sh install"
    CONTAINERS_CONF=$(write_conf) exec "$COMPOSE_VENV/bin/podman-compose" "$@"
    ;;
  *) echo "usage: $0 install | conf | podman ARGS... | compose ARGS..." >&2; exit 2 ;;
esac
