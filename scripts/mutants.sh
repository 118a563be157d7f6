#!/usr/bin/env bash
# Mutation testing of core rules: runs `cargo mutants` on the given core files
# against the core's tests that need no services, then prints one table row
# per file (caught, missed, timeout, unviable, score) and every missed mutant.
#
#   scripts/mutants.sh core/src/scope.rs core/src/gate.rs
#   scripts/mutants.sh scope.rs webhook/verifier.rs   # relative to core/src
#
# Run it after changing a rule in one of those files; a missed mutant is a
# change to the code that no test notices. Not part of .ci/run: each file
# takes minutes (every mutant is a rebuild and a test run).
#
# The test timeout is at least 60 s (cargo mutants would derive a few seconds
# from the unmutated run, which a loaded machine exceeds without any hang).
#
# Score = (caught + timeout) / (caught + missed + timeout): a mutant that makes
# the tests hang was noticed too; unviable mutants (they do not compile) are
# not counted.
#
# Environment:
#   MUTANTS_IN_PLACE=1   mutate this tree instead of a copy (faster: no copy,
#                        reuses target/; do not edit the tree meanwhile).
#   MUTANTS_OUT=DIR      where results go (default target/mutants-report).
#   MUTANTS_TESTS="a b"  only these core/tests targets (default: all but the
#                        ones that need Postgres/Redis).
#   MUTANTS_NO_LIB=1     leave out the library's own unit tests (saves a
#                        second build of the crate per mutant).
#   MUTANTS_ARGS="..."   extra arguments for cargo mutants (e.g. "-j 2").
#   MUTANTS_MEMORY_KB=N  heap limit per process (default 4 GiB).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [ $# -eq 0 ]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit 2
fi
if ! cargo mutants --version >/dev/null 2>&1; then
  echo "cargo-mutants is not installed: cargo install --locked cargo-mutants" >&2
  exit 2
fi

# Test targets that need no services. services.rs and postgres_restart.rs need
# the servers from scripts/services.sh (and fail under CI=true without them).
needs_services="services postgres_restart"
if [ -n "${MUTANTS_TESTS:-}" ]; then
  targets=$MUTANTS_TESTS
else
  targets=""
  for f in core/tests/*.rs; do
    name=$(basename "$f" .rs)
    case " $needs_services " in *" $name "*) continue ;; esac
    targets="$targets $name"
  done
fi
# Given as cargo arguments, so each mutant's build compiles only these targets
# (arguments after `--` would reach `cargo test` but not the build before it).
test_args=()
[ "${MUTANTS_NO_LIB:-}" = 1 ] || test_args+=(--cargo-arg=--lib)
for t in $targets; do test_args+=("--cargo-arg=--test=$t"); done

out_root=${MUTANTS_OUT:-$root/target/mutants-report}
mkdir -p "$out_root"
mode=()
[ "${MUTANTS_IN_PLACE:-}" = 1 ] && mode=(--in-place)
# shellcheck disable=SC2206
extra=(${MUTANTS_ARGS:-})

# A mutant can loop forever allocating (a lexer that stops advancing pushes
# tokens without end): cap each process's heap so it aborts within seconds
# instead of taking the machine's memory. Builds stay far below 4 GiB.
ulimit -d "${MUTANTS_MEMORY_KB:-4194304}"

rows=()
missed_all=""
for arg in "$@"; do
  file=${arg#./}
  case "$file" in core/src/*) ;; *) file="core/src/$file" ;; esac
  if [ ! -f "$file" ]; then
    echo "no such core file: $file" >&2
    exit 2
  fi
  out="$out_root/$(echo "${file#core/src/}" | tr '/' '_' | sed 's/\.rs$//')"
  # MUTANTS_KEEP=1 keeps earlier results (for MUTANTS_ARGS=--iterate): cargo
  # mutants rewrites outcomes.json with this run's mutants only, so the last
  # one is set aside first and the counts below merge them all.
  if [ "${MUTANTS_KEEP:-}" = 1 ]; then
    [ -f "$out/mutants.out/outcomes.json" ] &&
      cp "$out/mutants.out/outcomes.json" "$out/outcomes-$(date +%s).json"
  else
    rm -rf "$out"
  fi
  mkdir -p "$out"
  echo "== cargo mutants on $file (${test_args[*]//--cargo-arg=/})" >&2
  # No services: unset the URLs the service tests read, and CI (under which a
  # missing service is a failure).
  status=0
  env -u CI -u GATEPASS_TEST_POSTGRES_URL -u GATEPASS_TEST_REDIS_URL \
    cargo mutants --package gatepass-core --file "$file" --output "$out" \
    --no-shuffle --profile mutants --minimum-test-timeout 60 \
    "${test_args[@]}" "${mode[@]}" "${extra[@]}" >&2 || status=$?
  # 0: all caught; 2: some missed; 3: some timed out. Anything else means the
  # run itself failed (for example the tests fail without any mutation).
  case $status in 0 | 2 | 3) ;; *)
    echo "cargo mutants failed on $file (exit $status); see $out/mutants.out" >&2
    exit "$status"
    ;;
  esac
  # One line "caught missed timeout unviable", then the missed mutants; a
  # mutant's latest outcome counts.
  summary=$(python3 - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
files = sorted(glob.glob(os.path.join(out, "outcomes-*.json")))
files.append(os.path.join(out, "mutants.out", "outcomes.json"))
latest = {}
for f in files:
    if os.path.exists(f):
        for o in json.load(open(f))["outcomes"]:
            m = o["scenario"].get("Mutant") if isinstance(o["scenario"], dict) else None
            if m:
                latest[m["name"]] = o["summary"]
n = {s: sum(1 for v in latest.values() if v == s)
     for s in ("CaughtMutant", "MissedMutant", "Timeout", "Unviable")}
print(n["CaughtMutant"], n["MissedMutant"], n["Timeout"], n["Unviable"])
for name, s in sorted(latest.items()):
    if s == "MissedMutant":
        print("  " + name)
PY
  )
  read -r caught missed timeout unviable <<<"$(head -n 1 <<<"$summary")"
  viable=$((caught + missed + timeout))
  if [ "$viable" -gt 0 ]; then
    score=$(awk -v k=$((caught + timeout)) -v n="$viable" 'BEGIN { printf "%.1f %%", 100 * k / n }')
  else
    score="-"
  fi
  rows+=("$(printf '| %-22s | %6s | %6s | %7s | %8s | %7s |' "${file#core/src/}" "$caught" "$missed" "$timeout" "$unviable" "$score")")
  if [ "$missed" -gt 0 ]; then
    missed_all+=$(tail -n +2 <<<"$summary")$'\n'
  fi
done

printf '| %-22s | %6s | %6s | %7s | %8s | %7s |\n' file caught missed timeout unviable score
printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..24})" "-------:" "-------:" "--------:" "---------:" "--------:"
printf '%s\n' "${rows[@]}"
if [ -n "$missed_all" ]; then
  echo
  echo "Missed (no test failed with this change):"
  printf '%s' "$missed_all"
fi
