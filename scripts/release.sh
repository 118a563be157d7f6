#!/usr/bin/env bash
# Release artifacts for Linux x86_64 that install without Rust:
#
#   gatepass-VERSION-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
#       one wheel for every CPython >= 3.9 (abi3) on glibc >= 2.17
#   gatepass-VERSION.tgz
#       the npm package with the prebuilt addon bindings-node/gatepass.linux-x64-gnu.node
#       (glibc >= 2.17); its install script finds the addon and builds nothing
#
# Both are linked with zig (the `ziglang` package from PyPI, and `cargo-zigbuild`
# for the addon), which targets glibc 2.17 from any Linux host: no manylinux
# container needed. Other platforms (macOS, Windows, Linux arm64) are built by
# .github/workflows/release.yml, which this machine does not run.
#
#   bash scripts/release.sh           # both
#   bash scripts/release.sh wheel     # only the wheel
#   bash scripts/release.sh npm       # only the npm tarball
#
# Output: $GATEPASS_RELEASE_DIR (default target/release-artifacts), which is
# emptied of earlier artifacts of the same kind first. The tests install these
# artifacts (scripts/test-python.sh, scripts/test-node.sh) and
# scripts/test-install.sh installs them again with no cargo or rustc on PATH.
# Needs Rust, Python 3.9+ with venv, Node 20+ with npm and the network (pip).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
OUT=${GATEPASS_RELEASE_DIR:-$ROOT/target/release-artifacts}
TOOLS=$ROOT/target/release-tools
TARGET=x86_64-unknown-linux-gnu
GLIBC=2.17
what=${1:-all}
case "$what" in all | wheel | npm) ;; *) echo "usage: $0 [all|wheel|npm]" >&2; exit 2 ;; esac

# maturin, zig and cargo-zigbuild in a virtualenv of their own, pinned; kept
# between runs (target/ is the build cache anyway).
if [ ! -x "$TOOLS/bin/cargo-zigbuild" ]; then
  echo "==> release tools (maturin, ziglang, cargo-zigbuild) in $TOOLS"
  "$PY" -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q "maturin==1.16.0" "ziglang==0.17.1" "cargo-zigbuild==0.24.1"
fi
# cargo-zigbuild finds zig through `python3 -m ziglang` of the venv.
export PATH=$TOOLS/bin:$PATH
rustup target list --installed 2>/dev/null | grep -qx "$TARGET" || rustup target add "$TARGET"
mkdir -p "$OUT"

if [ "$what" != npm ]; then
  echo "==> wheel: maturin build --release --zig --compatibility manylinux2014"
  rm -f "$OUT"/gatepass-*.whl
  maturin build --release --zig --compatibility manylinux2014 --target "$TARGET" --out "$OUT"
  ls "$OUT"/gatepass-*manylinux_2_17_x86_64*.whl
fi

if [ "$what" != wheel ]; then
  echo "==> npm: the addon for linux-x64-gnu (glibc $GLIBC), then npm pack"
  rm -f "$OUT"/gatepass-*.tgz bindings-node/gatepass.*.node
  # What `npm run build` does, linked by zig against glibc 2.17 (napi's own
  # --cross-compile would install cargo-zigbuild with cargo and cannot name
  # the glibc version). native.js, which loads the addon, is in the repository.
  cargo zigbuild --release -p gatepass-node --target "$TARGET.$GLIBC"
  cp "target/$TARGET/release/libgatepass_node.so" bindings-node/gatepass.linux-x64-gnu.node
  strip --strip-unneeded bindings-node/gatepass.linux-x64-gnu.node
  node -e "require('./bindings-node/index.js')" # loads here
  TARBALL=$(npm pack --silent --pack-destination "$OUT" | tail -n 1)
  tar -tzf "$OUT/$TARBALL" | grep -qx 'package/bindings-node/gatepass.linux-x64-gnu.node' \
    || { echo "release: $TARBALL holds no addon" >&2; exit 1; }
  ls "$OUT/$TARBALL"
fi

# The newest glibc symbol each artifact needs: 2.17 or older is what makes it portable.
check_glibc() { # file
  local newest
  newest=$(objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)
  echo "$(basename "$1"): needs $newest"
  [ "$(printf '%s\n' "$newest" "GLIBC_$GLIBC" | sort -V | tail -n 1)" = "GLIBC_$GLIBC" ] \
    || { echo "release: $(basename "$1") needs $newest, newer than glibc $GLIBC" >&2; exit 1; }
}
if command -v objdump >/dev/null; then
  if [ "$what" != npm ]; then
    tmp=$(mktemp -d)
    "$PY" -m zipfile -e "$OUT"/gatepass-*.whl "$tmp"
    check_glibc "$(ls "$tmp"/gatepass/_native*.so)"
    rm -rf "$tmp"
  fi
  if [ "$what" != wheel ]; then check_glibc bindings-node/gatepass.linux-x64-gnu.node; fi
fi
echo "release artifacts in $OUT"
