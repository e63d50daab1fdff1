#!/usr/bin/env bash
# bench/fuzz.sh: runs each fuzz target of fuzz/ (cargo-fuzz, libFuzzer) in turn.
#
# Each target runs until SECONDS_PER_TARGET (default 600) have passed or
# RUNS_PER_TARGET executions (default 10,000,000) are done, whichever comes
# first, one target at a time at nice 19 (the machine is shared). It starts
# from the committed corpus fuzz/corpus/<target> (read, not written) and
# writes new inputs to a scratch corpus under OUT; with MERGE=1 those are
# merged into the committed corpus and minimised (cargo fuzz cmin). At the
# end it prints a table: target, executions, seconds, crashes.
#
# Crashes land in fuzz/artifacts/<target>/; replay one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> fuzz/artifacts/<target>/<file>
# and, once fixed, copy it into fuzz/corpus/<target>/ so that `cargo test`
# (crates/myriad/tests/fuzz_corpus.rs, crates/myriad-server/tests/fuzz_corpus.rs)
# replays it for ever.
#
# WHY RUSTC_BOOTSTRAP=1: cargo-fuzz passes nightly-only flags to rustc, and
# only the stable toolchain exists on these machines; RUSTC_BOOTSTRAP lets
# stable accept them. WHY -s none: no sanitizer. The code under test is safe
# Rust (httparse's unsafe is itself fuzzed by OSS-Fuzz), so AddressSanitizer
# would mostly cost speed on two shared cores; -a keeps debug assertions and
# overflow checks on, which is what catches arithmetic bugs in safe Rust.
#
# Needs: cargo install cargo-fuzz --locked
# Usage: bench/fuzz.sh [target...]    (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${SECONDS_PER_TARGET:-600}
RUNS_PER_TARGET=${RUNS_PER_TARGET:-10000000}
OUT=${OUT:-bench/results/fuzz-$(date -u +%Y%m%dT%H%M%SZ)}
export RUSTC_BOOTSTRAP=1
FLAGS=(-s none -a)

ALL=(response_split chunked_split server_request h2_request hpack_decode h2_frames tls_pem cli_values wire_line result_file)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi

max_len() {
  case "$1" in
    # Long enough for the 8 KiB chunk-size and trailer line limits.
    response_split | chunked_split | server_request | h2_frames) echo 20000 ;;
    wire_line | result_file) echo 32768 ;;
    *) echo 4096 ;;
  esac
}

mkdir -p "$OUT"
nice -n 19 cargo fuzz build "${FLAGS[@]}" >"$OUT/build.log" 2>&1 || {
  cat "$OUT/build.log"
  exit 1
}

printf '%-16s %14s %8s %8s\n' target executions seconds crashes >"$OUT/summary.txt"
for t in "${TARGETS[@]}"; do
  scratch="$OUT/corpus/$t"
  mkdir -p "$scratch" "fuzz/artifacts/$t"
  before=$(ls "fuzz/artifacts/$t" | wc -l)
  start=$(date +%s)
  echo "== $t: up to ${SECONDS_PER_TARGET}s or ${RUNS_PER_TARGET} runs" >&2
  set +e
  nice -n 19 cargo fuzz run "${FLAGS[@]}" "$t" "$scratch" "fuzz/corpus/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -runs="$RUNS_PER_TARGET" \
    -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 >"$OUT/$t.log" 2>&1
  status=$?
  set -e
  secs=$(($(date +%s) - start))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/$t.log" | grep -o '[0-9]*$' | tail -1)
  crashes=$(($(ls "fuzz/artifacts/$t" | wc -l) - before))
  printf '%-16s %14s %8s %8s\n' "$t" "${execs:-?}" "$secs" "$crashes" >>"$OUT/summary.txt"
  if [ "$status" -ne 0 ]; then
    echo "!! $t stopped with status $status: see $OUT/$t.log" >&2
    tail -30 "$OUT/$t.log" >&2
  fi
  if [ "${MERGE:-0}" = 1 ] && [ "$status" -eq 0 ]; then
    cp "$scratch"/* "fuzz/corpus/$t/" 2>/dev/null || true
    nice -n 19 cargo fuzz cmin "${FLAGS[@]}" "$t" "fuzz/corpus/$t" -- -max_len="$(max_len "$t")" \
      >"$OUT/$t.cmin.log" 2>&1
  fi
done
cat "$OUT/summary.txt"
