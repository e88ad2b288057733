#!/bin/sh
# The container's entrypoint: prepares the environment, then execs the command (`memos serve` by
# default), which becomes PID 1 and so gets the runtime's SIGTERM itself (aiohttp stops gracefully).
#
# - MEMOS_DSN_FILE: the DSN is read from that file (a Docker or Compose secret), as upstream's image
#   does; setting it and MEMOS_DSN together is an error.
# - Arguments that start with "-" are flags of `memos serve` (`docker run IMAGE --port 8081`).
# - Started as root (the default), it makes the data folder (MEMOS_DATA, /var/opt/memos) belong to
#   MEMOS_UID:MEMOS_GID (10001:10001 unless set), so a volume that an older image or upstream's wrote
#   as root carries over, then drops to that user. Started as another user (--user), it changes nothing.
set -eu

if [ -n "${MEMOS_DSN_FILE:-}" ]; then
  if [ -n "${MEMOS_DSN:-}" ]; then
    echo "memos: set MEMOS_DSN or MEMOS_DSN_FILE, not both" >&2
    exit 1
  fi
  MEMOS_DSN=$(cat "$MEMOS_DSN_FILE")
  export MEMOS_DSN
  unset MEMOS_DSN_FILE
fi

if [ $# = 0 ] || [ "${1#-}" != "$1" ]; then
  set -- memos serve "$@"
fi

if [ "$(id -u)" = 0 ]; then
  uid=${MEMOS_UID:-10001}
  gid=${MEMOS_GID:-10001}
  data=${MEMOS_DATA:-/var/opt/memos}
  mkdir -p "$data"
  # Only entries owned by someone else are changed (a large volume is not rewritten at every start);
  # -h changes a symlink itself, never what it points to.
  find "$data" \( ! -user "$uid" -o ! -group "$gid" \) -exec chown -h "$uid:$gid" {} +
  export HOME=/tmp
  exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all --no-new-privs -- "$@"
fi
exec "$@"
