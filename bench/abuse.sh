#!/usr/bin/env bash
# bench/abuse.sh — does `myriad serve` hold under abuse? A normal load's p99
# with and without 10,000 slowloris connections and 1,000 connections sending
# malformed or oversized heads, side by side.
#
# WHAT IT MEASURES
#   Each round runs the same open-model load twice against one `myriad serve`
#   (pinned to core 0): `myriad run --rate RATE -c C -z D` (pinned to core 1)
#   alone, then while `examples/abuse` (core 1, nice 10, so it takes CPU from
#   the load generator only when the generator does not need it) holds SLOW
#   slowloris connections (a head one byte a second, reopened when the server
#   closes them at its header timeout HT) and BAD connections sending a
#   malformed head (400) or one over 64 KiB or 64 headers (431), over and over.
#   It prints each run's p50/p99 and errors, the server's RSS, and at the end
#   the median p99 ratio abused / unabused, which should be at most 2, and no
#   errors in either load.
#
# HOW TO RUN (from anywhere)
#   bash bench/abuse.sh                       # RATE=2000 C=50 D=10 R=3 HT=10s
#   RATE=5000 D=20 R=5 bash bench/abuse.sh
set -euo pipefail
RATE=${RATE:-2000}
C=${C:-50}
D=${D:-10}
R=${R:-3}
HT=${HT:-10s}
SLOW=${SLOW:-10000}
BAD=${BAD:-1000}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build --release -q -p myriad-cli --bin myriad --example abuse
MYRIAD="$ROOT/target/release/myriad"
ABUSE="$ROOT/target/release/examples/abuse"

TMP="$(mktemp -d /tmp/myriad-abuse.XXXXXX)"
SERVER_PID=
ABUSE_PID=
cleanup() {
    [[ -n "$ABUSE_PID" ]] && kill "$ABUSE_PID" 2>/dev/null
    [[ -n "$SERVER_PID" ]] && kill -INT "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

taskset -c 0 "$MYRIAD" serve --listen 127.0.0.1:0 --header-timeout "$HT" --threads 1 --json \
    >"$TMP/serve.out" 2>"$TMP/serve.err" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q listening "$TMP/serve.out" 2>/dev/null && break; sleep 0.1; done
ADDR=$(grep -o 'http://[0-9.:]*' "$TMP/serve.out" | head -1 | sed 's|http://||')
[[ -n "$ADDR" ]] || { echo "abuse.sh: the server did not start: $(cat "$TMP/serve.err")" >&2; exit 1; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
# Never fails (fds close while they are listed): `set -e` must not end the run.
sockets() { { ls -l "/proc/$SERVER_PID/fd" 2>/dev/null || true; } | grep -c socket || true; }

# One load run; prints "p50_us p99_us errors issued".
load() {
    taskset -c 1 "$MYRIAD" run --json -q --rate "$RATE" -c "$C" -z "${D}s" "http://$ADDR/" >"$TMP/run.json"
    python3 - "$TMP/run.json" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))["total"]
r = t["requests"]
print(t["latency_us"]["p50"], t["latency_us"]["p99"], r["http_errors"] + r["failures"], r["issued"])
EOF
}

echo "myriad serve at $ADDR (core 0, 1 thread, header timeout $HT); load --rate $RATE -c $C -z ${D}s (core 1); abuse: $SLOW slowloris + $BAD bad heads"
echo "server RSS at start: $(( $(rss_kb) / 1024 )) MB"
printf '%-6s %-9s %10s %10s %8s %10s %s\n' round load p50_ms p99_ms errors issued server
ratios=()
peak_kb=0
for round in $(seq "$R"); do
    read -r p50 p99 err issued < <(load)
    printf '%-6s %-9s %10.2f %10.2f %8s %10s %s\n' "$round" alone "$(echo "$p50/1000" | bc -l)" "$(echo "$p99/1000" | bc -l)" "$err" "$issued" "$(sockets) sockets"
    base_p99=$p99
    base_err=$err

    nice -n 10 taskset -c 1 "$ABUSE" "$ADDR" --slow "$SLOW" --garbage $((BAD / 2)) --oversized $((BAD / 2)) \
        --for $((D + 30)) >"$TMP/abuse.out" 2>"$TMP/abuse.err" &
    ABUSE_PID=$!
    # Wait until the slowloris connections are in (the server holds them).
    for _ in $(seq 300); do [[ $(sockets) -ge $SLOW ]] && break; sleep 0.1; done
    held=$(sockets)
    ( while kill -0 "$ABUSE_PID" 2>/dev/null; do rss_kb; sleep 0.2; done ) >"$TMP/rss" &
    sampler=$!
    read -r p50 p99 err issued < <(load)
    printf '%-6s %-9s %10.2f %10.2f %8s %10s %s\n' "$round" abused "$(echo "$p50/1000" | bc -l)" "$(echo "$p99/1000" | bc -l)" "$err" "$issued" "$held sockets when the load started"
    kill -0 "$ABUSE_PID" 2>/dev/null || echo "round $round: the abuse ended early: $(cat "$TMP/abuse.out" "$TMP/abuse.err")"
    kill "$ABUSE_PID" 2>/dev/null || true
    wait "$ABUSE_PID" 2>/dev/null || true
    ABUSE_PID=
    wait "$sampler" 2>/dev/null || true
    p=$(sort -n "$TMP/rss" | tail -1)
    [[ -n "$p" && "$p" -gt "$peak_kb" ]] && peak_kb=$p
    if [[ "$held" -ge $((SLOW / 2)) ]]; then
        ratios+=("$(echo "$p99/$base_p99" | bc -l)")
    else
        echo "round $round: not counted: the server held only $held sockets when the abused load started"
    fi
    [[ "$err" -eq 0 && "$base_err" -eq 0 ]] || echo "round $round: errors in the load ($base_err alone, $err abused)"
    # Let the server close what the abuse left open before the next round.
    for _ in $(seq 200); do [[ $(sockets) -le $((C + 5)) ]] && break; sleep 0.1; done
done
[[ ${#ratios[@]} -gt 0 ]] || { echo "abuse.sh: no round had the abuse in place"; exit 1; }
median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "server RSS peak under abuse: $((peak_kb / 1024)) MB; at the end: $(( $(rss_kb) / 1024 )) MB"
printf 'p99 abused / alone per round: %s\n' "$(printf '%.2f ' "${ratios[@]}")"
if (( $(echo "$median <= 2" | bc -l) )); then
    printf 'median p99 ratio %.2f: within 2x\n' "$median"
else
    printf 'median p99 ratio %.2f: OVER 2x\n' "$median"
    exit 1
fi
kill -INT "$SERVER_PID"
wait "$SERVER_PID" || true
SERVER_PID=
echo "server counters: $(tail -1 "$TMP/serve.out")"
