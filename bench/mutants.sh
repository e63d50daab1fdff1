#!/usr/bin/env bash
# bench/mutants.sh: mutation testing (cargo-mutants) of the parsers and the
# accounting, as issue 11 lists them: proto/chunked.rs, proto/response.rs,
# metrics.rs, schedule/ and the server's request.rs. It prints the mutants
# that survive (missed: no test failed) and those that time out.
#
# Restricted so that it finishes on two shared cores: only the unit tests of
# the mutated crate are built and run per mutant (`--cargo-arg=--lib`, given
# to the build as well as the test: the integration tests drive whole runs,
# and building their dozen binaries took most of a mutant's time), with the
# `mutants` profile (the test profile without debug info), a timeout per
# test run, at nice 19. The unit tests are what should catch a mutant of a
# pure parser or of the recorder's arithmetic.
#
# CARGO_TARGET_DIR defaults to target/mutants, a target dir of its own, so
# that cargo-mutants' copies of the tree reuse built dependencies across runs
# without locking the main target/ (seed it with `cp -a target/debug
# target/mutants/` to skip building the dependencies the first time).
#
# Needs: cargo install cargo-mutants --locked
# Usage: bench/mutants.sh [extra cargo-mutants args, e.g. --list]
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-bench/results/mutants}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target/mutants}
FILES=(
  crates/myriad/src/proto/chunked.rs
  crates/myriad/src/proto/response.rs
  crates/myriad/src/metrics.rs
  crates/myriad/src/schedule/mod.rs
  crates/myriad-server/src/request.rs
)
# MUTANTS_FILES="a.rs b.rs" runs only those (for instance, two runs side by side,
# each with its own OUT and CARGO_TARGET_DIR).
if [ -n "${MUTANTS_FILES:-}" ]; then read -r -a FILES <<<"$MUTANTS_FILES"; fi
args=()
for f in "${FILES[@]}"; do args+=(--file "$f"); done

mkdir -p "$OUT"
set +e
nice -n 19 cargo mutants "${args[@]}" --timeout "${TIMEOUT:-120}" --output "$OUT" \
  --no-shuffle --cargo-arg=--lib --profile mutants "$@"
status=$?
set -e
# Exit status 2 means some mutants survived; 3, some timed out.
dir="$OUT/mutants.out"
if [ -f "$dir/outcomes.json" ]; then
  echo "== caught: $(wc -l <"$dir/caught.txt"), missed: $(wc -l <"$dir/missed.txt"), timeout: $(wc -l <"$dir/timeout.txt"), unviable: $(wc -l <"$dir/unviable.txt")"
  echo "== survivors (missed)"
  cat "$dir/missed.txt"
  if [ -s "$dir/timeout.txt" ]; then
    echo "== timed out"
    cat "$dir/timeout.txt"
  fi
fi
exit "$status"
