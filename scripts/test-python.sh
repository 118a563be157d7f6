#!/usr/bin/env bash
# Python: installed as a user would get it. Builds the release wheel (scripts/release.sh), installs
# it into a fresh virtualenv with the pinned test dependencies, runs ruff and pytest
# against the installed package (not the source tree), then starts the example
# apps from that virtualenv and hits them once over HTTP.
#
# Needs only Python 3.9+ with pip/venv and a Rust toolchain. Under CI=true a
# skipped test fails the run (see tests/python/conftest.py).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
WORK=$ROOT/target/python-test
rm -rf "$WORK"
mkdir -p "$WORK"

# The release wheel itself (manylinux2014, linked by zig): the tests run
# against the artifact users install, and scripts/test-install.sh installs the
# same file without Rust instead of building another.
echo "==> the release wheel: scripts/release.sh wheel (maturin build --release --zig)"
bash scripts/release.sh wheel
WHEEL=$(ls "${GATEPASS_RELEASE_DIR:-$ROOT/target/release-artifacts}"/gatepass-*manylinux*.whl)

echo "==> fresh venv with the wheel and test dependencies"
"$PY" -m venv "$WORK/venv"
V=$WORK/venv/bin
"$V/pip" install -q -r tests/python/requirements.txt
"$V/pip" install -q "$WHEEL"
# The tests must exercise the installed wheel, not bindings-python/python.
(cd "$WORK" && "$V/python" -c "import gatepass, sys; assert '/site-packages/' in gatepass.__file__, gatepass.__file__; print('gatepass', gatepass.__version__, 'from', gatepass.__file__)")

echo "==> ruff, mypy"
"$V/ruff" check bindings-python/python tests/python examples benchmarks/python
"$V/ruff" format --check bindings-python/python tests/python examples benchmarks/python
(cd bindings-python/python && "$V/mypy" gatepass --ignore-missing-imports --no-incremental)

PIDS=()
STARTED_SERVICES=0
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ "$STARTED_SERVICES" = 1 ]; then bash scripts/services.sh stop || true; fi
}
trap cleanup EXIT

# Real PostgreSQL and Redis: scripts/test.sh has started them already; when
# this script runs alone it starts its own instances, on ports and in a
# directory of their own so it never stops servers someone else started
# (CI=true: failing to start them is fatal).
if [ -z "${GATEPASS_TEST_POSTGRES_URL:-}" ]; then
  export GATEPASS_SERVICES_DIR=$WORK/services GATEPASS_PG_PORT=${GATEPASS_PY_PG_PORT:-54349}
  export GATEPASS_REDIS_PORT=${GATEPASS_PY_REDIS_PORT:-63819} GATEPASS_REDIS_TLS_PORT=${GATEPASS_PY_REDIS_TLS_PORT:-63829}
  if services=$(bash scripts/services.sh start); then
    eval "$services"
    STARTED_SERVICES=1
  elif [ "${CI:-}" = true ]; then
    echo "could not start PostgreSQL/Redis for the tests" >&2
    exit 1
  else
    echo "*** PostgreSQL/Redis could not be started: their tests will be SKIPPED ***" >&2
  fi
fi

echo "==> pytest"
"$V/python" -m pytest tests/python -q -p no:cacheprovider

echo "==> example apps from the installed wheel"
SMOKE=$WORK/smoke
mkdir -p "$SMOKE"
export GATEPASS_STORE="sqlite:///$SMOKE/gatepass.db"
free_port() { "$V/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
FLASK_PORT=$(free_port)
DJANGO_PORT=$(free_port)
(cd "$SMOKE" && exec "$V/python" "$ROOT/examples/flask/app.py" --port "$FLASK_PORT" >flask.log 2>&1) &
PIDS+=($!)
(cd "$SMOKE" && exec "$V/python" "$ROOT/examples/django/manage.py" runserver "127.0.0.1:$DJANGO_PORT" --noreload >django.log 2>&1) &
PIDS+=($!)
TOKEN=$(cd "$SMOKE" && "$V/gatepass" --json keys issue "smoke test" --scope bots:read | "$V/python" -c 'import json,sys; print(json.load(sys.stdin)["token"])')
"$V/python" - "$FLASK_PORT" "$DJANGO_PORT" "$TOKEN" <<'PY'
import json, sys, time, urllib.error, urllib.request

flask_port, django_port, token = sys.argv[1], sys.argv[2], sys.argv[3]

def get(url, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)

for name, port in (("flask", flask_port), ("django", django_port)):
    status, body = get(f"http://127.0.0.1:{port}/v1/bots", token)
    assert status == 200 and body["bots"], (name, status, body)
    status, body = get(f"http://127.0.0.1:{port}/v1/bots")
    assert status == 401 and body["code"] == "missing_credentials", (name, status, body)
    print(f"{name} example: 200 with a key, 401 without")
PY
echo "python: ok"
