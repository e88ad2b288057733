#!/bin/sh
# Starts PostgreSQL as the official image does, for the variables compose.yaml sets: on an empty
# PGDATA (the volume) it runs initdb with POSTGRES_USER / POSTGRES_PASSWORD (password login over
# TCP), creates POSTGRES_DB, then serves on all interfaces, port 5432, as the postgres user, with
# the server as PID 1 (it gets the runtime's stop signal itself).
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA"
  find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres:postgres {} +
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "postgres-entrypoint: the database is not initialised and POSTGRES_PASSWORD is not set" >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA"
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    # Only the socket while the database is made: no client connects before it exists.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
    echo 'CREATE DATABASE :"db"' | psql -q -v ON_ERROR_STOP=1 --username="$POSTGRES_USER" --dbname=postgres \
      --set=db="$POSTGRES_DB"
    pg_ctl -D "$PGDATA" -m fast -w stop
  fi
  echo "postgres-entrypoint: initialised $PGDATA" >&2
fi

if [ "${1:-}" = postgres ]; then
  shift
  exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
fi
exec "$@"
