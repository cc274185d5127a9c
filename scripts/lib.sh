# shellcheck shell=bash
# Sourced by every shell script in scripts/ after `cd "$(dirname "$0")/.."`, as `. scripts/lib.sh`.
# Sets no shell options (each script has its own `set -euo pipefail`) and exports only PATH.

# The one PostgreSQL the scripts install, build against and run: Debian 12's PostgreSQL 15.
PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin

# cargo, cargo-pgrx and rustfmt live in cargo's bin directory, which a root shell on a fresh
# machine (or `sudo`) does not have on its PATH.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# pg_cluster_prepare DIR [PATH...]
# Creates DIR/pgdata, DIR/sock and DIR/pg.log for a throwaway cluster. The scripts run as root but
# initdb and the server run as postgres, so those three (and the further PATHs, directories that
# are created if missing) are handed to postgres; DIR is 755 so postgres can reach them.
# scripts/bench and scripts/demo pass DIR itself as a PATH: the whole directory is postgres's.
pg_cluster_prepare() {
  local dir=${1:?pg_cluster_prepare: DIR missing}
  shift
  mkdir -p "$dir/pgdata" "$dir/sock" "$@"
  touch "$dir/pg.log"
  chmod 755 "$dir"
  chown postgres:postgres "$dir/pgdata" "$dir/sock" "$dir/pg.log" "$@"
}

# pg_cluster_start DIR PORT [SERVER_OPTIONS]
# initdb (trust, superuser postgres, no fsync: the cluster is thrown away) and start a cluster in
# DIR/pgdata, as postgres, logging to DIR/pg.log. It listens only on a Unix socket in DIR/sock, so
# PORT only names the socket (.s.PGSQL.PORT) and cannot collide with another cluster's TCP port.
# SERVER_OPTIONS (e.g. "-c max_connections=60") are appended to the postgres command line.
# Clients connect with -h DIR/sock -p PORT -U postgres. Returns once the server accepts connections.
pg_cluster_start() {
  local dir=${1:?pg_cluster_start: DIR missing} port=${2:?pg_cluster_start: PORT missing} opts=${3:-}
  runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/pgdata" -A trust -U postgres --no-sync >/dev/null
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/pgdata" -l "$dir/pg.log" \
    -o "-p $port -k $dir/sock -c listen_addresses=''${opts:+ $opts}" -w start >/dev/null
}

# pg_cluster_stop DIR
# Fast shutdown (open sessions are disconnected, not waited for) of the cluster in DIR/pgdata.
# Silent and never fails: it runs from cleanup traps, also before initdb ran (no postmaster.pid,
# nothing to stop) and after the cluster was stopped.
pg_cluster_stop() {
  local dir=${1:?pg_cluster_stop: DIR missing}
  [ -f "$dir/pgdata/postmaster.pid" ] || return 0
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/pgdata" -m fast stop >/dev/null 2>&1 || true
}
