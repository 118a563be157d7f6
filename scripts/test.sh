#!/usr/bin/env bash
# The whole test suite, from a fresh machine with only the toolchains (Rust,
# Python 3.11 + pip, Node 20 + npm). Each part installs what it needs itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-rust.sh
