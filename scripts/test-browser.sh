#!/usr/bin/env bash
# The API Tokens page in a real browser: Debian's Chromium driven by
# Playwright for Python (Playwright's own browser download is not used),
# against `gatepass console` and the framework mounts. Installs what it
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

echo "==> build the console example"
cargo build -q -p gatepass-core --features console --example console

export GATEPASS_BROWSER_RUN=${GATEPASS_BROWSER_RUN:-$(date -u +%Y%m%dT%H%M%SZ)}
export GATEPASS_CHROMIUM=$CHROMIUM
echo "==> pytest tests/browser (screenshots: target/browser-shots/$GATEPASS_BROWSER_RUN)"
(cd tests/browser && "$V/pytest" -q -p no:cacheprovider "$@")
