#!/usr/bin/env bash
# A wheelhouse for installing memos-py without an index: every locked dependency (all extras, no dev
# tools) at its locked version, hash-checked against uv.lock, plus a wheel of each of the project's
# own packages, plus constraints.txt (the locked versions) for the install to follow.
#
#   scripts/wheelhouse.sh DIR
#
# Then: pip install --no-index --find-links DIR -c DIR/constraints.txt "memos-server[postgres,s3]"
#
# scripts/build-image.sh makes one on the host, and the Containerfile makes one inside the build when
# none was made beforehand. UV (default .tools/bin/uv) exports the lock; PYTHON (default
# .tools/bin/python) is a Python with pip, which downloads. A second run with the same lock and
# sources does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[wheelhouse] $*" >&2; }

[ $# = 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
out=$1
UV=${UV:-.tools/bin/uv}
PYTHON=${PYTHON:-.tools/bin/python}
[ -x "$UV" ] || { say "no uv at $UV: run scripts/bootstrap.sh --tools"; exit 1; }
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export_args=(export --frozen --no-dev --all-extras --all-packages --no-header --no-annotate -q)
"$UV" "${export_args[@]}" --no-emit-workspace -o "$work/locked.txt"
"$UV" "${export_args[@]}" --no-emit-workspace --no-hashes -o "$work/constraints.txt"
# The workspace's packages, as paths ("." is the core), in the lock's order.
"$UV" "${export_args[@]}" --no-editable --no-hashes -o "$work/all.txt"
mapfile -t members < <(grep -E '^\.' "$work/all.txt")

if cmp -s "$work/locked.txt" "$out/locked.txt"; then
  say "locked dependencies: unchanged"
else
  say "locked dependencies: downloading (hash-checked)"
  rm -f "$out"/*.whl "$out/sources.sha256"
  "$PYTHON" -m pip wheel -qq --disable-pip-version-check --no-deps --require-hashes -r "$work/locked.txt" -w "$out"
  cp "$work/locked.txt" "$out/locked.txt"
fi

# The project's packages are rebuilt when any of their files changed. The core's wheel holds only
# memos_core (pyproject.toml says so), so the rest of the checkout does not count for it.
sources=()
for m in "${members[@]}"; do
  if [ "$m" = . ]; then sources+=(pyproject.toml README.md memos_core); else sources+=("$m"); fi
done
find "${sources[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum >"$work/sources.sha256"
if cmp -s "$work/sources.sha256" "$out/sources.sha256"; then
  say "project packages: unchanged"
else
  say "project packages: building ${#members[@]} wheels"
  rm -f "$out"/memos_*.whl
  for m in "${members[@]}"; do
    "$UV" build -q --wheel --out-dir "$out" "$m"
  done
  cp "$work/sources.sha256" "$out/sources.sha256"
fi
cp "$work/constraints.txt" "$out/constraints.txt"
