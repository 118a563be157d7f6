#!/usr/bin/env bash
# Install from the repository exactly as the README's "Install" section says,
# from a clean clone, and run an example from each install:
#
#   npm install ./gatepass            (no prebuilt addon: the install builds it with cargo)
#   pip install './gatepass[flask]'   (maturin compiles the Rust core)
#
# and, first, that without `cargo` on PATH the npm install fails with a
# message naming what to run, and `require('gatepass')` on an unbuilt clone
# says the same (not napi's generic "Cannot find native binding").
#
# Last, the release artifacts (scripts/release.sh: the manylinux wheel and the
# npm tarball with the prebuilt addon) are installed into fresh environments
# with no `cargo` or `rustc` on PATH, and the same examples run from them. The
# artifacts are the ones scripts/test-python.sh and scripts/test-node.sh built
# and tested; they are built here only when missing. `test-install.sh release`
# runs only this last part.
#
# The clone is of this working tree (HEAD plus uncommitted and untracked
# files), at a fixed path under target/. CARGO_TARGET_DIR defaults to this
# repository's target/, so the crates.io dependencies compiled by earlier
# steps or runs are reused (the workspace's own crates and the LTO link are
# redone); the commands themselves are the README's. Needs Rust, Python 3.9+ with venv, Node 20+ with npm, and the
# network for npm and pip. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
WORK=$ROOT/target/install-test
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
fail() { echo "test-install: $*" >&2; exit 1; }

echo "==> a clean clone of this working tree in $WORK/gatepass"
rm -rf "$WORK/gatepass" "$WORK/app" "$WORK/nocargo" "$WORK/venv" "$WORK/run"
mkdir -p "$WORK"
git clone --quiet "$ROOT" "$WORK/gatepass"
git -C "$ROOT" diff HEAD --binary | git -C "$WORK/gatepass" apply --allow-empty
git -C "$ROOT" ls-files --others --exclude-standard -z | (cd "$ROOT" && xargs -0r cp --parents -t "$WORK/gatepass")
CLONE=$WORK/gatepass
compgen -G "$CLONE/bindings-node/*.node" >/dev/null && fail "the clone carries a built addon"

# PATH without the directories that hold cargo or rustc.
NOCARGO_PATH=""
IFS=: read -r -a path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
  [ -n "$dir" ] && [ ! -x "$dir/cargo" ] && [ ! -x "$dir/rustc" ] && NOCARGO_PATH=${NOCARGO_PATH:+$NOCARGO_PATH:}$dir
done
PATH=$NOCARGO_PATH command -v cargo >/dev/null && fail "cannot hide cargo from PATH"
PATH=$NOCARGO_PATH command -v rustc >/dev/null && fail "cannot hide rustc from PATH"
PATH=$NOCARGO_PATH command -v npm >/dev/null || fail "npm shares a directory with cargo; cannot hide cargo alone"

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_for() { # log file, pattern
  for _ in $(seq 1 300); do
    grep -q "$2" "$1" && return 0
    sleep 0.2
  done
  cat "$1"; fail "timed out waiting for '$2' in $1"
}
# Starts examples/express from the current directory (an app with gatepass
# and express installed) and checks its answers; PATH as the caller sets it.
check_express() {
# A copy, as a user's own server.js: run from inside the clone, Node would
# resolve its requires from the clone's path, not from the app.
cp "$CLONE/examples/express/server.js" .
PORT=0 GATEPASS_STORE="sqlite:///$PWD/gatepass.db" node server.js >server.log 2>&1 &
PIDS+=($!)
wait_for server.log '^listening on'
BASE=$(sed -n 's/^listening on //p' server.log)
TOKEN=$(sed -n 's/^demo token (shown once): //p' server.log)
[ -n "$TOKEN" ] || { cat server.log; fail "the example printed no token"; }
BASE="$BASE" TOKEN="$TOKEN" node -e '
  (async () => {
    const ok = await fetch(process.env.BASE + "/v1/bots", { headers: { authorization: "Bearer " + process.env.TOKEN } })
    const denied = await fetch(process.env.BASE + "/v1/bots")
    const body = await denied.json()
    if (ok.status !== 200 || denied.status !== 401 || body.code !== "missing_credentials") {
      console.error("example answered", ok.status, denied.status, body); process.exit(1)
    }
  })().catch((e) => { console.error(e); process.exit(1) })'
}
# Starts examples/flask with the virtualenv $V from the current directory,
# issues a key with its `gatepass` command and checks the app's answers.
check_flask() {
FLASK_PORT=$("$V/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
GATEPASS_STORE="sqlite:///$PWD/gatepass.db" "$V/python" "$CLONE/examples/flask/app.py" --port "$FLASK_PORT" >flask.log 2>&1 &
PIDS+=($!)
TOKEN=$(GATEPASS_STORE="sqlite:///$PWD/gatepass.db" "$V/gatepass" --json keys issue "install test" --scope bots:read \
  | "$V/python" -c 'import json,sys; print(json.load(sys.stdin)["token"])')
"$V/python" - "$FLASK_PORT" "$TOKEN" <<'PY'
import json, sys, time, urllib.error, urllib.request

port, token = sys.argv[1], sys.argv[2]

def get(token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + 60
    while True:
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/bots", headers=headers)
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)

status, body = get(token)
assert status == 200 and body["bots"], (status, body)
status, body = get()
assert status == 401 and body["code"] == "missing_credentials", (status, body)
PY
}
case "${1:-all}" in
  all) ;;
  release) echo "==> only the release artifacts (scripts/test-install.sh release)" ;;
  *) fail "usage: $0 [all|release]" ;;
esac

if [ "${1:-all}" = all ]; then
# --- npm without cargo: a clear failure --------------------------------------
echo "==> npm install ./gatepass without cargo on PATH fails with what to run"
mkdir -p "$WORK/nocargo"
cd "$WORK/nocargo"
ln -s ../gatepass gatepass
npm init -y >/dev/null
if PATH=$NOCARGO_PATH npm install --no-audit --no-fund ./gatepass >install.log 2>&1; then
  cat install.log; fail "npm install succeeded without cargo and without a prebuilt addon"
fi
for expected in "no \`cargo\` on PATH" "npm rebuild gatepass" "npm ci && npm run build" "rustup.rs"; do
  grep -qF "$expected" install.log || { cat install.log; fail "the failed install does not say: $expected"; }
done
echo "npm install without cargo: fails, naming npm rebuild / npm run build"
if node -e "require('$CLONE/bindings-node/index.js')" >require.log 2>&1; then fail "an unbuilt clone loaded"; fi
grep -qF "has not been built" require.log && grep -qF "npm run build" require.log \
  || { cat require.log; fail "require() of an unbuilt clone does not say what to run"; }
grep -qF "Cannot find native binding" require.log && { cat require.log; fail "napi's generic message leaked"; }
echo "require('gatepass') unbuilt: says it is not built and what to run"

# --- npm with cargo: builds the addon, runs examples/express -------------------
echo "==> npm install ./gatepass (builds the addon with cargo)"
mkdir -p "$WORK/app"
cd "$WORK/app"
ln -s ../gatepass gatepass
npm init -y >/dev/null
npm install --no-audit --no-fund ./gatepass express@^5
compgen -G "$CLONE/bindings-node/gatepass.*.node" >/dev/null || fail "the install built no addon"
RESOLVED=$(node -p "require('fs').realpathSync(require.resolve('gatepass'))")
case "$RESOLVED" in
  "$CLONE"/*) ;;
  *) fail "require('gatepass') resolved to $RESOLVED, not the clone" ;;
esac

check_express
echo "npm install ./gatepass: examples/express answers 200 with its key, 401 without"

# --- pip ---------------------------------------------------------------------------
echo "==> pip install './gatepass[flask]' into a fresh virtualenv"
"$PY" -m venv "$WORK/venv"
V=$WORK/venv/bin
cd "$WORK"
"$V/pip" install -q './gatepass[flask]'
mkdir -p "$WORK/run"
cd "$WORK/run"
"$V/python" -c "import gatepass, flask; assert '/site-packages/' in gatepass.__file__, gatepass.__file__"
check_flask
echo "pip install './gatepass[flask]': examples/flask answers 200 with a key, 401 without"

fi

# --- release artifacts, with no Rust toolchain on PATH --------------------------------
RELEASE=${GATEPASS_RELEASE_DIR:-$ROOT/target/release-artifacts}
if ! compgen -G "$RELEASE/gatepass-*manylinux*.whl" >/dev/null || ! compgen -G "$RELEASE/gatepass-*.tgz" >/dev/null; then
  echo "==> no release artifacts in $RELEASE: building them (scripts/release.sh)"
  bash "$ROOT/scripts/release.sh"
fi
WHEEL=$(ls "$RELEASE"/gatepass-*manylinux*.whl)
TARBALL=$(ls "$RELEASE"/gatepass-*.tgz)
rm -rf "$WORK/release"
mkdir -p "$WORK/release/npm" "$WORK/release/pip"

echo "==> npm install $(basename "$TARBALL") with no cargo or rustc on PATH"
cd "$WORK/release/npm"
npm init -y >/dev/null
PATH=$NOCARGO_PATH npm install --no-audit --no-fund "$TARBALL" express@^5 >install.log 2>&1 \
  || { cat install.log; fail "the release tarball did not install without Rust"; }
[ -d "$WORK/release/npm/node_modules/gatepass/bindings-node/src" ] && fail "the release tarball carries the Rust sources"
PATH=$NOCARGO_PATH check_express
echo "release tarball: installs without Rust, examples/express answers 200 with its key, 401 without"

echo "==> pip install $(basename "$WHEEL")[flask] with no cargo or rustc on PATH"
cd "$WORK/release/pip"
PATH=$NOCARGO_PATH "$PY" -m venv "$WORK/release/venv"
V=$WORK/release/venv/bin
PATH=$NOCARGO_PATH "$V/pip" install -q --only-binary gatepass "$WHEEL[flask]"
PATH=$NOCARGO_PATH check_flask
echo "release wheel: installs without Rust, examples/flask answers 200 with a key, 401 without"
echo "install: ok"
