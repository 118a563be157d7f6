#!/usr/bin/env bash
# The API Tokens page in a real browser: Debian's Chromium driven by
# Playwright for Python (Playwright's own browser download is not used),
# against `gatepass console` (the command the wheel installs) and the
# framework mounts. Installs what it
# needs on a fresh machine: the chromium package (as root) and the pinned
# Python dependencies in a virtualenv of its own.
#
# Screenshots of every state land in target/browser-shots/<run>/, with the
# measurements (first render with 100 keys, bytes shipped) in
# measurements.json there. GATEPASS_BROWSER_RUN names the run (default: the
# UTC time).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
WORK=$ROOT/target/browser-test
CHROMIUM=${GATEPASS_CHROMIUM:-/usr/bin/chromium}

if [ ! -x "$CHROMIUM" ]; then
  echo "==> apt-get install chromium"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  else
    echo "no Chromium at $CHROMIUM and not root: install Debian's chromium package" >&2
    exit 1
  fi
fi

echo "==> virtualenv with the browser test dependencies"
if [ ! -x "$WORK/venv/bin/pytest" ]; then
  rm -rf "$WORK/venv"
  "$PY" -m venv "$WORK/venv"
fi
V=$WORK/venv/bin
"$V/pip" install -q -r tests/browser/requirements.txt

echo "==> ruff"
"$V/ruff" check tests/browser
"$V/ruff" format --check tests/browser

# The Python mounts run from a Python with the gatepass wheel and the
# frameworks: the virtualenv scripts/test-python.sh made (scripts/test.sh
# runs it first), else one built here (a debug wheel: quicker to build).
PYAPP=${GATEPASS_BROWSER_PYTHON:-}
FRAMEWORKS="import gatepass.manage, flask, django, fastapi, uvicorn"
if [ -z "$PYAPP" ]; then
  if [ -x target/python-test/venv/bin/python ] && target/python-test/venv/bin/python -c "$FRAMEWORKS" 2>/dev/null; then
    PYAPP=$ROOT/target/python-test/venv/bin/python
  else
    echo "==> build a gatepass wheel and a virtualenv with the frameworks"
    rm -rf "$WORK/apps" "$WORK/dist"
    "$PY" -m venv "$WORK/apps"
    "$WORK/apps/bin/pip" install -q "maturin==1.16.0"
    "$WORK/apps/bin/maturin" build -q --out "$WORK/dist"
    grep -E '^(Flask|Werkzeug|Django|asgiref|fastapi|starlette|pydantic|uvicorn)==' tests/python/requirements.txt > "$WORK/frameworks.txt"
    "$WORK/apps/bin/pip" install -q -r "$WORK/frameworks.txt" "$WORK"/dist/gatepass-*.whl
    PYAPP=$WORK/apps/bin/python
  fi
fi
"$PYAPP" -c "$FRAMEWORKS"
export GATEPASS_BROWSER_PYTHON=$PYAPP

# The Express mount runs from the repository's addon: the one
# scripts/test-node.sh built, else a debug build made here.
if ! ls bindings-node/*.node >/dev/null 2>&1 || [ ! -d node_modules/express ]; then
  echo "==> npm ci && napi build (debug)"
  npm ci --ignore-scripts --no-audit --no-fund >/dev/null
  npm run --silent build:debug
fi

export GATEPASS_BROWSER_RUN=${GATEPASS_BROWSER_RUN:-$(date -u +%Y%m%dT%H%M%SZ)}
export GATEPASS_CHROMIUM=$CHROMIUM
echo "==> pytest tests/browser (screenshots: target/browser-shots/$GATEPASS_BROWSER_RUN)"
(cd tests/browser && "$V/pytest" -q -p no:cacheprovider "$@")
