#!/usr/bin/env bash
# Real PostgreSQL and Redis servers for the test suite, from Debian's packages,
# on loopback ports of their own, with data in a scratch directory.
#
#   eval "$(bash scripts/services.sh start)"   # prints the exports the tests read
#   bash scripts/services.sh restart-postgres  # used by the restart tests
#   bash scripts/services.sh stop
set -euo pipefail

DIR=${GATEPASS_SERVICES_DIR:-/tmp/gatepass-services}
PG_PORT=${GATEPASS_PG_PORT:-54329}
REDIS_PORT=${GATEPASS_REDIS_PORT:-63799}
PGDATA="$DIR/pgdata"

log() { echo "services: $*" >&2; }

pg_bin() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$bin" ] && echo "$bin"
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

install() {
  if [ -n "$(pg_bin)" ] && command -v redis-server >/dev/null; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    log "PostgreSQL/Redis are not installed and we are not root to install them"
    return 1
  fi
  log "installing postgresql and redis-server from Debian's packages"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >&2
}

start_postgres() {
  local bin
  bin=$(pg_bin)
  mkdir -p "$DIR"
  if [ "$(id -u)" = 0 ]; then chown postgres "$DIR"; fi
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    as_postgres "$bin/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  if ! as_postgres "$bin/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    as_postgres "$bin/pg_ctl" -D "$PGDATA" -l "$DIR/postgres.log" -w \
      -o "-p $PG_PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  fi
  as_postgres "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'gatepass_test'" | grep -q 1 ||
    as_postgres "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres gatepass_test
}

start_redis() {
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    mkdir -p "$DIR"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
      --daemonize yes --dir "$DIR" --logfile "$DIR/redis.log" --pidfile "$DIR/redis.pid"
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
}

case "${1:-start}" in
  start)
    install
    start_postgres
    start_redis
    echo "export GATEPASS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PG_PORT/gatepass_test"
    echo "export GATEPASS_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/"
    echo "export GATEPASS_SERVICES_SCRIPT=$(cd "$(dirname "$0")" && pwd)/services.sh"
    ;;
  restart-postgres)
    as_postgres "$(pg_bin)/pg_ctl" -D "$PGDATA" -m fast -w restart \
      -o "-p $PG_PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" >/dev/null
    ;;
  stop-postgres)
    as_postgres "$(pg_bin)/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
    ;;
  start-postgres)
    start_postgres
    ;;
  stop)
    as_postgres "$(pg_bin)/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: $0 start|stop|restart-postgres|stop-postgres|start-postgres" >&2
    exit 2
    ;;
esac
