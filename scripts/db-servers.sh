#!/usr/bin/env bash
# Throw-away PostgreSQL and MariaDB servers for the test suite, without systemd.
#
#   scripts/db-servers.sh install        apt-get install the server packages if they are missing (root)
#   scripts/db-servers.sh start          start both; prints `export MEMOS_TEST_*_DSN=...` lines
#   scripts/db-servers.sh stop           stop both and delete their data
#
# Each server gets its own data folder under $MEMOS_DB_DIR (default: /tmp/memos-py-dbs), listens on
# 127.0.0.1 only, on its own port (PG 55432, MariaDB 53306 unless MEMOS_PG_PORT / MEMOS_MARIADB_PORT
# say otherwise) and its own socket folder, so it never meets a system-wide instance. Database, user
# and password are all "memos". Data is disposable: durability settings are off for speed.
set -euo pipefail

DIR="${MEMOS_DB_DIR:-/tmp/memos-py-dbs}"
PG_PORT="${MEMOS_PG_PORT:-55432}"
MARIADB_PORT="${MEMOS_MARIADB_PORT:-53306}"

say() { echo "[db-servers] $*" >&2; }
die() { say "$*"; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$d" ] && [ -x "$d/pg_ctl" ] && echo "$d"
}

# postgres and mariadbd refuse to run as root: run them as their own OS users.
as_user() {
  local user=$1; shift
  if is_root; then runuser -u "$user" -- "$@"; else "$@"; fi
}

install() {
  local pkgs=()
  pg_bin >/dev/null || pkgs+=(postgresql)
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || pkgs+=(mariadb-server)
  if [ ${#pkgs[@]} -gt 0 ]; then
    is_root || die "missing ${pkgs[*]}: run 'sudo apt-get install -y ${pkgs[*]}'"
    say "installing ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The packages' start hooks cannot start services without systemd; that is expected and harmless.
    apt-get install -y -qq "${pkgs[@]}" >/dev/null 2>&1 || apt-get install -y "${pkgs[@]}"
  fi
  install_pgvector
}

# pgvector, optional: memos-semantic searches vectors with it where a database has the extension
# (and computes similarity with NumPy where not). Installed where the distribution packages it
# (Debian 12 does not; Debian 13 does).
install_pgvector() {
  local bin ver pkg
  bin=$(pg_bin) || return 0
  ver=$(basename "$(dirname "$bin")")
  pkg="postgresql-$ver-pgvector"
  [ -e "/usr/share/postgresql/$ver/extension/vector.control" ] && return 0
  is_root || { say "optional: 'sudo apt-get install -y $pkg' for pgvector"; return 0; }
  export DEBIAN_FRONTEND=noninteractive
  apt-cache show "$pkg" >/dev/null 2>&1 || apt-get update -qq || true
  if apt-cache show "$pkg" >/dev/null 2>&1; then
    say "installing $pkg"
    apt-get install -y -qq "$pkg" >/dev/null 2>&1 || say "$pkg did not install; PostgreSQL goes on without pgvector"
  else
    say "no $pkg package here; PostgreSQL goes on without pgvector"
  fi
}

prepare_dir() {
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  if is_root; then
    local u
    for u in "$@"; do
      runuser -u "$u" -- test -x "$DIR" || die "OS user $u cannot reach $DIR; set MEMOS_DB_DIR to a world-traversable folder"
    done
  fi
}

start_pg() {
  local bin data sock log
  bin=$(pg_bin) || die "PostgreSQL is not installed (scripts/db-servers.sh install)"
  prepare_dir postgres
  data="$DIR/pg/data"; sock="$DIR/pg/run"; log="$DIR/pg/server.log"
  mkdir -p "$DIR/pg" "$sock"
  is_root && chown -R postgres:postgres "$DIR/pg"
  if [ ! -s "$data/PG_VERSION" ]; then
    as_user postgres "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$DIR/pg/initdb.log" 2>&1 \
      || { cat "$DIR/pg/initdb.log" >&2; die "initdb failed"; }
  fi
  if ! as_user postgres "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_user postgres "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start -o \
      "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
      >/dev/null || { tail -n 40 "$log" >&2; die "PostgreSQL did not start"; }
  fi
  local psql=("$bin/psql" -h "$sock" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt)
  [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'memos'")" = 1 ] \
    || "${psql[@]}" -c "CREATE ROLE memos LOGIN CREATEDB PASSWORD 'memos'" >/dev/null
  [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'memos'")" = 1 ] \
    || "${psql[@]}" -c "CREATE DATABASE memos OWNER memos" >/dev/null
  echo "export MEMOS_TEST_POSTGRES_DSN=postgresql://memos:memos@127.0.0.1:$PG_PORT/memos"
}

stop_pg() {
  local bin
  bin=$(pg_bin) || return 0
  if [ -s "$DIR/pg/data/PG_VERSION" ]; then
    as_user postgres "$bin/pg_ctl" -D "$DIR/pg/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR/pg"
}

mariadb_server() { command -v mariadbd || echo /usr/sbin/mariadbd; }

mariadb_ping() {
  mariadb-admin --no-defaults --protocol=socket --socket="$DIR/mariadb/run/mysqld.sock" -uroot ping >/dev/null 2>&1
}

start_mariadb() {
  local srv dir data userarg=()
  srv=$(mariadb_server)
  [ -x "$srv" ] || die "MariaDB is not installed (scripts/db-servers.sh install)"
  prepare_dir mysql
  dir="$DIR/mariadb"; data="$dir/data"
  mkdir -p "$dir/run"
  if is_root; then chown -R mysql:mysql "$dir"; userarg=(--user=mysql); fi
  if [ ! -d "$data/mysql" ]; then
    mariadb-install-db --no-defaults "${userarg[@]}" --datadir="$data" --auth-root-authentication-method=socket \
      --skip-test-db >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; die "mariadb-install-db failed"; }
  fi
  if ! mariadb_ping; then
    # --no-defaults ignores /etc/mysql, so the character set must be given here (the built-in one is latin1).
    setsid "$srv" --no-defaults "${userarg[@]}" --datadir="$data" --socket="$dir/run/mysqld.sock" \
      --pid-file="$dir/run/mysqld.pid" --port="$MARIADB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
      --skip-log-bin --log-error="$dir/error.log" --character-set-server=utf8mb4 \
      --collation-server=utf8mb4_unicode_ci --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
      --max-connections=300 </dev/null >/dev/null 2>&1 &
    local i
    for i in $(seq 1 160); do mariadb_ping && break; sleep 0.25; done
    mariadb_ping || { tail -n 40 "$dir/error.log" >&2; die "MariaDB did not start"; }
  fi
  mariadb --no-defaults --protocol=socket --socket="$dir/run/mysqld.sock" -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS memos CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'memos'@'127.0.0.1' IDENTIFIED BY 'memos';
CREATE USER IF NOT EXISTS 'memos'@'localhost' IDENTIFIED BY 'memos';
GRANT ALL PRIVILEGES ON *.* TO 'memos'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'memos'@'localhost';
FLUSH PRIVILEGES;
SQL
  echo "export MEMOS_TEST_MYSQL_DSN=mysql://memos:memos@127.0.0.1:$MARIADB_PORT/memos"
}

stop_mariadb() {
  local pidf="$DIR/mariadb/run/mysqld.pid" pid i
  if [ -s "$pidf" ]; then
    pid=$(cat "$pidf")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for i in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$DIR/mariadb"
}

case "${1:-}" in
  install) install ;;
  start) start_pg; start_mariadb ;;
  start-postgres) start_pg ;;
  start-mariadb) start_mariadb ;;
  stop) stop_mariadb; stop_pg ;;
  *) echo "usage: $0 install|start|start-postgres|start-mariadb|stop" >&2; exit 2 ;;
esac
