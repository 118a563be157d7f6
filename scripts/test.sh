#!/usr/bin/env bash
# The whole test suite, from a fresh machine with only the toolchains (Rust,
# Python 3.11 + pip, Node 20 + npm). Each part installs what it needs itself.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real PostgreSQL and Redis (Debian's packages) for the multi-process tests.
# Under CI=true a failure to start them fails the run; elsewhere the tests
# that need them skip with a loud message.
if services=$(bash scripts/services.sh start); then
  eval "$services"
  trap 'bash scripts/services.sh stop' EXIT
elif [ "${CI:-}" = true ]; then
  echo "could not start PostgreSQL/Redis for the tests" >&2
  exit 1
else
  echo "*** PostgreSQL/Redis could not be started: the tests that need them will be SKIPPED ***" >&2
fi

# A CI machine starts from nothing and keeps nothing, and its disk can be
# small: no incremental caches, line tables instead of full debug info in the
# test binaries (backtraces keep file and line), and the debug build is
# removed once the Rust tests are done, since everything after them builds in
# release. A developer's machine keeps its caches.
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0 CARGO_PROFILE_DEV_DEBUG=line-tables-only
fi

bash scripts/test-rust.sh
if [ "${CI:-}" = true ]; then
  echo "==> disk: $(du -sh target 2>/dev/null | cut -f1) in target/ after the Rust tests; removing target/debug"
  rm -rf target/debug
fi
bash scripts/test-node.sh
bash scripts/test-python.sh
bash scripts/test-cross.sh
# The API Tokens page in Chromium, against the console and the four mounts
# (reuses the wheel and the addon the Python and Node parts just built).
bash scripts/test-browser.sh
bash scripts/test-install.sh
echo "==> disk: $(du -sh target 2>/dev/null | cut -f1) in target/ at the end"
