#!/usr/bin/env bash
# Build memos-py's container image (Containerfile) on this machine, with no registry and no Docker
# daemon: Debian's podman, a Debian bookworm base made here with debootstrap, and a wheelhouse of the
# locked dependencies made on the host (pip inside a build may not reach PyPI here).
#
#   scripts/build-image.sh [--tag NAME] [--extras postgres,mysql,s3] [--base IMAGE] [-- PODMAN-BUILD-ARGS...]
#   scripts/build-image.sh --base-only      only make the local base (if missing) and print its name
#
# The tag defaults to localhost/memos-py:latest, the extras to none (the default plugins only). The
# base is made once: a rootfs tarball cached in build/image/, imported as
# localhost/memos-py-base:bookworm (remove both to make a fresh one, with the mirror's latest
# packages); the wheelhouse is kept in build/wheelhouse/ and podman keeps the layers, so a second
# build is fast. --base uses another (already present) base image instead.
# Installs podman, runc and debootstrap with apt-get when missing (root). On a machine with Docker
# the same image comes from `docker build -f Containerfile .` with the official Debian base.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[build-image] $*" >&2; }
die() { say "$*"; exit 1; }

SUITE=bookworm
LOCAL_BASE=localhost/memos-py-base:$SUITE
tag=localhost/memos-py:latest
extras=
base=
extra_args=()
base_only=
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=$2; shift 2 ;;
    --extras) extras=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --base-only) base_only=1; shift ;;
    --) shift; extra_args=("$@"); break ;;
    *) die "unknown argument $1 (usage: $0 [--tag NAME] [--extras LIST] [--base IMAGE] [-- PODMAN-BUILD-ARGS...])" ;;
  esac
done

podman() { scripts/containers.sh podman "$@"; }

# The URI of the first apt source (deb822 .sources or one-line .list) that serves suite $1.
apt_mirror() {
  local suite=$1 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk -v suite="$suite" '
      function flush() { if (uris != "" && (" " suites " ") ~ (" " suite " ")) { split(uris, u, " "); print u[1]; found = 1; exit } uris = ""; suites = "" }
      /^[ \t]*$/ { flush(); next }
      /^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
      /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
      END { if (!found) flush() }' "$f"
  done | head -n 1 | grep . && return 0
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk -v suite="$suite" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i + 1) == suite) { print $i; exit } }' \
    | grep . && return 0
  return 1
}

# A Debian minbase rootfs, slimmed as Debian's official -slim images are, as a tarball.
make_rootfs() {
  local tarball=$1 mirror security root
  mirror=${DEBIAN_MIRROR:-$(apt_mirror "$SUITE" || echo http://deb.debian.org/debian)}
  security=${DEBIAN_SECURITY_MIRROR:-$(apt_mirror "$SUITE-security" || echo http://deb.debian.org/debian-security)}
  root=$(mktemp -d build/image/rootfs.XXXXXX)
  say "debootstrap --variant=minbase $SUITE from $mirror"
  if ! debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >build/image/debootstrap.log 2>&1; then
    tail -n 20 build/image/debootstrap.log >&2
    rm -rf "$root"
    die "debootstrap failed (build/image/debootstrap.log)"
  fi
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # Packages installed later leave out documentation and translations.
  cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
EOF
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/{man,info,locale,groff,lintian}/* "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* \
    "$root"/var/log/*.log "$root"/var/log/apt/*
  tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$root"
}

scripts/containers.sh install
scripts/bootstrap.sh --tools
mkdir -p build/image

# One build at a time: builds share the cached rootfs, the wheelhouse and the base image.
exec 9>build/image/.lock
flock 9

started=$SECONDS
if [ -z "$base" ]; then
  base=$LOCAL_BASE
  if ! podman image exists "$LOCAL_BASE"; then
    tarball=build/image/debian-$SUITE-minbase.tar
    [ -s "$tarball" ] || make_rootfs "$tarball"
    say "importing $tarball as $LOCAL_BASE"
    podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["bash"]' "$tarball" "$LOCAL_BASE" >/dev/null
  fi
fi
if [ -n "$base_only" ]; then
  echo "$base"
  exit 0
fi

scripts/wheelhouse.sh build/wheelhouse

say "podman build $tag (base $base, extras '${extras:-none}')"
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
previous=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
# docker format: the OCI image format has no HEALTHCHECK. --pull=never: the base is local.
podman build --format docker --pull=never \
  --build-arg "BASE=$base" --build-arg "EXTRAS=$extras" \
  --label "org.opencontainers.image.revision=$revision" \
  -f Containerfile -t "$tag" "${extra_args[@]}" .
# The image this tag named before goes (unless a container or another tag still uses it), so
# rebuilding a tag does not pile up old images.
current=$(podman image inspect --format '{{.Id}}' "$tag")
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
  podman rmi "$previous" >/dev/null 2>&1 || true
fi
# Each build also leaves its build stage as an untagged image (the layer cache of the next build);
# only the newest few stay.
podman images --filter dangling=true --filter label=memos-py.stage=build --sort created --format '{{.ID}}' \
  | tail -n +5 | xargs -r scripts/containers.sh podman rmi >/dev/null 2>&1 || true
say "built $tag in $((SECONDS - started)) s: $(podman image inspect --format '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
