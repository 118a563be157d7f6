#!/usr/bin/env bash
# Python and Node processes against one PostgreSQL store and one Redis, using
# what the earlier steps built: the Python test virtualenv with the installed
# wheel (scripts/test-python.sh, target/python-test/venv) and the Node addon
# (scripts/test-node.sh, bindings-node/*.node). Checks: a key revoked from Node
# is rejected by a Python process and one revoked from Python by a Node process
# (delays printed); one Python and one Node process hammering one key limited
# to 40/hour admit exactly 40 together; usage counts add up after both close.
# The checks themselves are tests/python/cross_processes.py. First, without
# servers: the same command-line scenario through pip's `gatepass` and
# `npx gatepass` on one SQLite store (tests/python/cross_cli.py).
#
# Servers: those scripts/test.sh started (GATEPASS_TEST_*_URL), else its own
# instances on ports and in a directory of their own. Without them the run is
# SKIPPED loudly, except under CI=true, where that fails. Exits non-zero on any
# failure; the last line is "N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=$ROOT/target/python-test/venv/bin/python
NODE_PACKAGE=$ROOT/bindings-node

echo "==> cross-check: Python and Node processes on one Postgres and one Redis"
fail() { echo "test-cross: $*" >&2; echo "0 passed, 1 failed"; exit 1; }
[ -x "$PY" ] || fail "no $PY: run scripts/test-python.sh first (it builds the wheel and that virtualenv)"
compgen -G "$NODE_PACKAGE/*.node" >/dev/null || fail "no Node addon in bindings-node/: run scripts/test-node.sh first"
command -v node >/dev/null || fail "node is not on PATH"
node -e "require(process.argv[1])" "$NODE_PACKAGE" || fail "the Node package in bindings-node/ does not load"

# One command line in both packages: pip's `gatepass` and `npx gatepass`
# (from the packed npm package) on one store, outputs compared.
echo "==> the command line from both packages"
"$PY" -m pytest tests/python/cross_cli.py -q -p no:cacheprovider

STARTED_SERVICES=0
cleanup() { if [ "$STARTED_SERVICES" = 1 ]; then bash scripts/services.sh stop || true; fi; }
trap cleanup EXIT
if [ -z "${GATEPASS_TEST_POSTGRES_URL:-}" ] || [ -z "${GATEPASS_TEST_REDIS_URL:-}" ]; then
  export GATEPASS_SERVICES_DIR=$ROOT/target/cross-services GATEPASS_PG_PORT=${GATEPASS_CROSS_PG_PORT:-54359}
  export GATEPASS_REDIS_PORT=${GATEPASS_CROSS_REDIS_PORT:-63839} GATEPASS_REDIS_TLS_PORT=${GATEPASS_CROSS_REDIS_TLS_PORT:-63849}
  if services=$(bash scripts/services.sh start); then
    eval "$services"
    STARTED_SERVICES=1
  elif [ "${CI:-}" = true ]; then
    fail "could not start PostgreSQL/Redis (CI=true: nothing may be skipped)"
  else
    echo "*** PostgreSQL/Redis could not be started: the Python/Node cross-check was SKIPPED ***" >&2
    echo "0 passed, 0 failed (SKIPPED: no PostgreSQL/Redis)"
    exit 0
  fi
fi

"$PY" tests/python/cross_processes.py "$NODE_PACKAGE"
