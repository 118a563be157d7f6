#!/usr/bin/env bash
# The Node package, from a fresh machine with only Node 20+ (npm) and Rust:
# install the locked dev dependencies, build the release addon and tarball
# (scripts/release.sh npm), run the node:test suites, then install that
# tarball into a fresh directory as a user would and hit the Express example once. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

echo "== npm ci"
npm ci --no-audit --no-fund

# The release build of the addon (linked by zig against glibc 2.17) and the
# release tarball holding it: the tests run against what users install, and
# scripts/test-install.sh installs the same tarball without Rust.
echo "== the release addon and tarball: scripts/release.sh npm"
bash scripts/release.sh npm
RELEASE=${GATEPASS_RELEASE_DIR:-$ROOT/target/release-artifacts}

echo "== node --test tests/node"
node --test --test-concurrency=1 tests/node/

echo "== npm pack, install into a fresh directory, run examples/express"
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

TARBALL=$(basename "$(ls "$RELEASE"/gatepass-*.tgz)")
cp "$RELEASE/$TARBALL" "$WORK/"
mkdir "$WORK/app"
cp examples/express/server.js "$WORK/app/"
cd "$WORK/app"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent "$WORK/$TARBALL" express@^5
# The package must not reach back into the source tree.
node -e "const p = require.resolve('gatepass'); if (p.startsWith('$ROOT/')) { console.error('resolved from the source tree: ' + p); process.exit(1) }"

PORT=0 GATEPASS_STORE="sqlite:///$WORK/app/gatepass.db" node server.js >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  grep -q '^listening on' "$WORK/server.log" && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$WORK/server.log"; exit 1; fi
  sleep 0.1
done
BASE=$(sed -n 's/^listening on //p' "$WORK/server.log")
TOKEN=$(sed -n 's/^demo token (shown once): //p' "$WORK/server.log")
if [ -z "$BASE" ] || [ -z "$TOKEN" ]; then cat "$WORK/server.log"; exit 1; fi
BASE="$BASE" TOKEN="$TOKEN" node -e '
  (async () => {
    const ok = await fetch(process.env.BASE + "/v1/bots", { headers: { authorization: "Bearer " + process.env.TOKEN } })
    const denied = await fetch(process.env.BASE + "/v1/bots")
    const body = await denied.json()
    if (ok.status !== 200 || denied.status !== 401 || body.code !== "missing_credentials") {
      console.error("example answered", ok.status, denied.status, body); process.exit(1)
    }
    console.log("example from the packed tarball: 200 with the demo token, 401 problem without")
  })().catch((e) => { console.error(e); process.exit(1) })'
echo "1 passed, 0 failed"
