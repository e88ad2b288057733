#!/usr/bin/env bash
# The headless browser the web UI's tests drive (tests/web): Debian's chromium package.
#
#   scripts/browser.sh install     apt-get install chromium if it is missing (root)
#   scripts/browser.sh path        print the browser's path (exit 1 if there is none)
#
# The tests use Playwright's Python package with this executable; nothing is downloaded by
# Playwright itself (never run `playwright install`). MEMOS_TEST_CHROMIUM names another binary.
set -euo pipefail

say() { echo "[browser] $*" >&2; }
die() { say "$*"; exit 1; }

browser_path() {
  local candidate=${MEMOS_TEST_CHROMIUM:-/usr/bin/chromium}
  [ -x "$candidate" ] && echo "$candidate"
}

install() {
  if browser_path >/dev/null; then
    return 0
  fi
  if [ -n "${MEMOS_TEST_CHROMIUM:-}" ]; then
    die "MEMOS_TEST_CHROMIUM=$MEMOS_TEST_CHROMIUM is not an executable"
  fi
  [ "$(id -u)" = 0 ] || die "chromium is missing: run 'sudo apt-get install -y chromium'"
  command -v apt-get >/dev/null || die "chromium is missing and this is not a Debian-like system: install it and set MEMOS_TEST_CHROMIUM"
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists only when apt does not know the package yet (a fresh image has none).
  if ! apt-cache show chromium >/dev/null 2>&1; then
    say "apt-get update"
    apt-get update -qq
  fi
  # No recommends (a desktop's worth of daemons); one font family so pages lay out as they do for people.
  say "installing chromium"
  apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null 2>&1 \
    || apt-get install -y --no-install-recommends chromium fonts-liberation
  browser_path >/dev/null || die "apt-get installed chromium but /usr/bin/chromium is not there"
}

case "${1:-}" in
  install) install ;;
  path) browser_path || die "no browser: scripts/browser.sh install" ;;
  *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
