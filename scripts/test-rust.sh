#!/usr/bin/env bash
# Rust: format, lints, unit/integration/property tests of the core, and the
# command line's tests (gatepass-cli: in-process runs and the built binary).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test -p gatepass-core
cargo test -p gatepass-cli
