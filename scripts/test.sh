#!/usr/bin/env bash
# Install memos-py with its test tools, Debian's chromium (scripts/browser.sh, for the web UI's
# browser tests) and the container tools (scripts/containers.sh, for the image's tests), start
# throw-away PostgreSQL and MariaDB servers (scripts/db-servers.sh), and run the whole test suite
# on SQLite and on both servers. The servers are stopped, and their data deleted, when the script
# exits. Extra arguments go to pytest.
#
# Tests run in two pytest-xdist workers when the machine has two cores or more (one file per worker
# at a time, so a browser test module starts its server and Chromium once); MEMOS_TEST_WORKERS=N
# chooses another number, 1 runs them in this process.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --dev

scripts/browser.sh install || { echo "[test] cannot install chromium for the browser tests" >&2; exit 1; }
MEMOS_TEST_CHROMIUM=$(scripts/browser.sh path)
export MEMOS_TEST_CHROMIUM

# podman, runc, debootstrap, podman-compose and systemd-analyze: tests/deploy builds and runs the image.
scripts/containers.sh install || { echo "[test] cannot install the container tools" >&2; exit 1; }

scripts/db-servers.sh install || { echo "[test] cannot install the database servers" >&2; exit 1; }
trap 'scripts/db-servers.sh stop || echo "[test] stopping the database servers failed" >&2' EXIT
if ! exports=$(scripts/db-servers.sh start); then
  echo "[test] the database servers did not start; see the messages above" >&2
  exit 1
fi
eval "$exports"
for var in MEMOS_TEST_POSTGRES_DSN MEMOS_TEST_MYSQL_DSN; do
  if [ -z "${!var:-}" ]; then
    echo "[test] scripts/db-servers.sh start did not export $var" >&2
    exit 1
  fi
done
export MEMOS_TEST_POSTGRES_DSN MEMOS_TEST_MYSQL_DSN

workers=${MEMOS_TEST_WORKERS:-$(nproc 2>/dev/null || echo 1)}
if [ -z "${MEMOS_TEST_WORKERS:-}" ] && [ "$workers" -gt 2 ]; then
  workers=2  # by default at most two: the database servers and the browsers need cores too
fi
parallel=()
if [ "$workers" -gt 1 ]; then
  parallel=(-n "$workers" --dist loadfile)
fi

set +e
.venv/bin/python -m pytest "${parallel[@]}" "$@"
status=$?
set -e
if [ "$status" = 5 ]; then
  echo "no tests were collected" >&2
fi
exit "$status"
