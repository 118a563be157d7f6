#!/usr/bin/env bash
# Real PostgreSQL and Redis servers for the test suite, from Debian's packages,
# on loopback ports of their own, with data in a scratch directory. Both also
# speak TLS with a certificate from a CA generated here (openssl): Postgres on
# its one port (the client asks), Redis on a second port. The certificate
# names localhost and 127.0.0.1 only; the servers also listen on 127.0.0.2, a
# name the certificate does not cover, for the hostname-mismatch tests.
#
#   eval "$(bash scripts/services.sh start)"   # prints the exports the tests read
#   bash scripts/services.sh restart-postgres  # used by the restart tests
#   bash scripts/services.sh stop
set -euo pipefail

DIR=${GATEPASS_SERVICES_DIR:-/tmp/gatepass-services}
PG_PORT=${GATEPASS_PG_PORT:-54329}
REDIS_PORT=${GATEPASS_REDIS_PORT:-63799}
REDIS_TLS_PORT=${GATEPASS_REDIS_TLS_PORT:-63809}
PGDATA="$DIR/pgdata"
TLS="$DIR/tls"
PG_OPTS="-p $PG_PORT -k $DIR -c listen_addresses=127.0.0.1,127.0.0.2 -c fsync=off -c max_connections=200 \
  -c ssl=on -c ssl_cert_file=$TLS/server.pem -c ssl_key_file=$TLS/server.key"

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
  if [ -n "$(pg_bin)" ] && command -v redis-server >/dev/null && command -v openssl >/dev/null; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    log "PostgreSQL/Redis are not installed and we are not root to install them"
    return 1
  fi
  log "installing postgresql and redis-server from Debian's packages"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server openssl >&2
}

# A test CA, a second CA that signed nothing the servers present (for the
# wrong-CA tests), and a server certificate for localhost/127.0.0.1.
make_certs() {
  if [ -f "$TLS/server.pem" ]; then return 0; fi
  mkdir -p "$TLS"
  local ca
  for ca in ca other-ca; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -subj "/CN=gatepass test $ca" -addext keyUsage=critical,keyCertSign,cRLSign \
      -keyout "$TLS/$ca.key" -out "$TLS/$ca.pem" 2>/dev/null
  done
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$TLS/server.key" -out "$TLS/server.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$TLS/server.ext"
  openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial \
    -days 3650 -extfile "$TLS/server.ext" -out "$TLS/server.pem" 2>/dev/null
  # Postgres refuses a key file that others can read.
  chmod 600 "$TLS/server.key"
  if [ "$(id -u)" = 0 ]; then chown postgres "$TLS/server.key"; fi
}

start_postgres() {
  local bin
  bin=$(pg_bin)
  mkdir -p "$DIR"
  if [ "$(id -u)" = 0 ]; then chown postgres "$DIR"; fi
  make_certs
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    as_postgres "$bin/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  if ! as_postgres "$bin/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    as_postgres "$bin/pg_ctl" -D "$PGDATA" -l "$DIR/postgres.log" -w -o "$PG_OPTS" start >/dev/null
  fi
  as_postgres "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'gatepass_test'" | grep -q 1 ||
    as_postgres "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres gatepass_test
}

start_redis() {
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    mkdir -p "$DIR"
    make_certs
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 127.0.0.2 --save "" --appendonly no \
      --tls-port "$REDIS_TLS_PORT" --tls-cert-file "$TLS/server.pem" --tls-key-file "$TLS/server.key" \
      --tls-ca-cert-file "$TLS/ca.pem" --tls-auth-clients no \
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
    echo "export GATEPASS_TEST_REDIS_TLS_URL=rediss://127.0.0.1:$REDIS_TLS_PORT/"
    echo "export GATEPASS_TEST_TLS_CA=$TLS/ca.pem"
    echo "export GATEPASS_TEST_TLS_OTHER_CA=$TLS/other-ca.pem"
    echo "export GATEPASS_SERVICES_SCRIPT=$(cd "$(dirname "$0")" && pwd)/services.sh"
    # So that the tests' own calls (restart-postgres…) reach these servers.
    echo "export GATEPASS_SERVICES_DIR=$DIR GATEPASS_PG_PORT=$PG_PORT GATEPASS_REDIS_PORT=$REDIS_PORT GATEPASS_REDIS_TLS_PORT=$REDIS_TLS_PORT"
    ;;
  restart-postgres)
    as_postgres "$(pg_bin)/pg_ctl" -D "$PGDATA" -m fast -w restart -o "$PG_OPTS" >/dev/null
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
