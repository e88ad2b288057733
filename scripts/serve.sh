#!/usr/bin/env bash
# Install memos-py and serve it on SQLite at http://localhost:5230 (data in ./data unless MEMOS_DATA is set).
# Extra arguments go to `memos serve` (e.g. --port 8081).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export MEMOS_DATA="${MEMOS_DATA:-$PWD/data}"
mkdir -p "$MEMOS_DATA"
exec .venv/bin/memos serve "$@"
