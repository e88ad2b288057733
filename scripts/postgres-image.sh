#!/usr/bin/env bash
# Build a stand-in for the official PostgreSQL image that compose.yaml names, for tests on a machine
# that reaches no registry: tests/deploy/postgres-image/ on the local Debian base that
# scripts/build-image.sh makes (Debian's PostgreSQL, an entrypoint that honours POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB and PGDATA as the official one does).
#
#   scripts/postgres-image.sh [TAG]        TAG defaults to the postgres image of compose.yaml
#
# A TAG that already names an image other than this stand-in (the real one, pulled) is left as it
# is. podman keeps the layers, so a second build takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[postgres-image] $*" >&2; }
podman() { scripts/containers.sh podman "$@"; }

tag=${1:-$(sed -n 's/^ *image: *\(.*postgres.*\)$/\1/p' compose.yaml | head -n 1)}
[ -n "$tag" ] || { say "no postgres image in compose.yaml"; exit 1; }

if podman image exists "$tag" \
  && [ "$(podman image inspect --format '{{index .Labels "memos-py.stand-in"}}' "$tag")" != postgres ]; then
  say "$tag exists and is not the stand-in: kept"
  exit 0
fi
base=$(scripts/build-image.sh --base-only)
started=$SECONDS
# The same lock as scripts/build-image.sh: the base must not change under the build.
exec 9>build/image/.lock
flock 9
previous=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
podman build --format docker --pull=never --build-arg "BASE=$base" \
  -f tests/deploy/postgres-image/Containerfile -t "$tag" tests/deploy/postgres-image >&2
current=$(podman image inspect --format '{{.Id}}' "$tag")
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
  podman rmi "$previous" >/dev/null 2>&1 || true
fi
say "built $tag in $((SECONDS - started)) s"
