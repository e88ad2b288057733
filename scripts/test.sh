#!/usr/bin/env bash
# Install memos-py with its test tools, start throw-away PostgreSQL and MariaDB servers
# (scripts/db-servers.sh), and run the whole test suite on SQLite and on both servers. The servers
# are stopped, and their data deleted, when the script exits. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --dev

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

set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" = 5 ]; then
  echo "no tests were collected" >&2
fi
exit "$status"
