#!/usr/bin/env bash
# bench/longrun.sh — does myriad hold over a long run? Memory, file
# descriptors, accounting and the timeline of a 30-minute open-model run at
# half of what the machine sustains, against `myriad serve`.
#
# WHAT IT MEASURES
#   1. The sustainable rate: a closed-model run (`-c C -z 10s`) against the
#      server (core 0) from the client (core 1); RATE = half its req/s,
#      unless RATE is given.
#   2. The long run: `myriad run --rate RATE -c C -z D --watch-pid SERVER
#      --json`. From its per-second series it prints:
#        - client RSS and server RSS: the mean of the first 5 minutes against
#          the mean of the last 5 (flat means within 10%);
#        - the timeline: one interval per second of the run, none empty,
#          each within 5% of RATE;
#        - the accounting: issued = succeeded + HTTP errors + failures, and
#          issued + dropped = due (the open model's schedule);
#      and from /proc, sampled every 10 s from 10 s into the run:
#        - the client's open file descriptors, first and last sample;
#        - the server's open file descriptors before the run and 5 s after it
#          (back to the starting count: the run's connections were all closed).
#   Prints PASS or FAIL per check, and exits 1 if any failed.
#   No result file (-o) is written: with one, the client also keeps each
#   interval's compressed histograms until the report (about 2 KB a second,
#   so shards merge exactly), which grows with the run's length by design.
#
# HOW TO RUN (from anywhere; about D + 30 s)
#   bash bench/longrun.sh                  # D=30m C=100, RATE = half the max
#   D=5m RATE=20000 bash bench/longrun.sh  # shorter, at a set rate
#   FIRST/LAST (default 300): seconds compared at each end of the run.
set -euo pipefail
D=${D:-30m}
C=${C:-100}
RATE=${RATE:-}
FIRST=${FIRST:-300}
LAST=${LAST:-300}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build --release -q -p myriad-cli --bin myriad
MYRIAD="$ROOT/target/release/myriad"

TMP="$(mktemp -d /tmp/myriad-longrun.XXXXXX)"
SERVER_PID=
SAMPLER_PID=
cleanup() {
    [[ -n "$SAMPLER_PID" ]] && kill "$SAMPLER_PID" 2>/dev/null
    [[ -n "$SERVER_PID" ]] && kill -INT "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT/"
taskset -c 0 "$MYRIAD" serve --listen "127.0.0.1:$PORT" --threads 1 >"$TMP/serve.out" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

if [[ -z "$RATE" ]]; then
    taskset -c 1 "$MYRIAD" run -q --json --no-tui -t 1 -c "$C" -z 10s "$URL" >"$TMP/max.json"
    RATE=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["total"]["requests"]["per_second"] / 2))' "$TMP/max.json")
    echo "sustainable: $((RATE * 2)) req/s closed-model at -c $C; the long run goes at $RATE req/s"
fi
sleep 2
SERVER_FDS_BEFORE=$(fds "$SERVER_PID")

echo "long run: --rate $RATE -c $C -z $D against myriad serve (pid $SERVER_PID)"
taskset -c 1 "$MYRIAD" run -q --json --no-tui -t 1 --rate "$RATE" -c "$C" -z "$D" \
    --watch-pid "$SERVER_PID" "$URL" >"$TMP/run.json" &
CLIENT_PID=$!
(
    # From 10 s in, when every connection is open.
    sleep 10
    while kill -0 "$CLIENT_PID" 2>/dev/null; do
        echo "$(date +%s) $(fds "$CLIENT_PID") $(fds "$SERVER_PID")" >>"$TMP/fds.txt"
        sleep 10
    done
) &
SAMPLER_PID=$!
RC=0
wait "$CLIENT_PID" || RC=$?
kill "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=
sleep 5
SERVER_FDS_AFTER=$(fds "$SERVER_PID")
[[ $RC -eq 0 ]] || echo "myriad run exited $RC"

python3 - "$TMP/run.json" "$TMP/fds.txt" "$RATE" "$FIRST" "$LAST" \
    "$SERVER_FDS_BEFORE" "$SERVER_FDS_AFTER" <<'PY'
import json, statistics, sys
run, fds_file, rate, first, last, srv_before, srv_after = sys.argv[1:8]
rate, first, last = float(rate), int(first), int(last)
srv_before, srv_after = int(srv_before), int(srv_after)
doc = json.load(open(run))
ok = True
def check(name, good, detail):
    global ok
    ok &= good
    print(f"{'PASS' if good else 'FAIL'}  {name}: {detail}")

series = doc["series"]
def rss(sample, who):
    r = sample.get("resources") or {}
    if who == "client":
        return (r.get("client") or {}).get("rss_bytes")
    targets = r.get("targets") or []
    return targets[0].get("rss_bytes") if targets else None
for who in ("client", "server"):
    head = [rss(s, who) for s in series[:first]]
    tail = [rss(s, who) for s in series[-last:]]
    head = [x for x in head if x]
    tail = [x for x in tail if x]
    if not head or not tail:
        check(f"{who} RSS flat", False, "no RSS samples in the series")
        continue
    a, b = statistics.mean(head), statistics.mean(tail)
    change = (b - a) / a
    check(f"{who} RSS flat", abs(change) <= 0.10,
          f"first {first}s {a / 2**20:.1f} MiB, last {last}s {b / 2**20:.1f} MiB ({change:+.1%})")

counts = [s["requests"] for s in series]
empty = sum(1 for n in counts if n == 0)
off = [i for i, n in enumerate(counts[:-1]) if abs(n - rate) > 0.05 * rate]
check("timeline without gaps", empty == 0 and not off,
      f"{len(series)} intervals, {empty} empty, {len(off)} more than 5% off {rate:.0f} req/s"
      + (f" (first at {off[0]} s: {counts[off[0]]})" if off else ""))

t = doc["total"]["requests"]
issued = t["issued"]
ended = t["succeeded"] + t["http_errors"] + t["failures"]
check("issued = succeeded + http errors + failures", issued == ended,
      f"{issued:,} = {t['succeeded']:,} + {t['http_errors']:,} + {t['failures']:,}")
# Evenly spaced arrivals (the default): the k-th is due at k / RATE, for
# every k with k / RATE before the end, so ceil(RATE x seconds) - 1 are due.
import math
due = math.ceil(rate * doc["config"]["duration_s"]) - 1
dropped = t["dropped"]
check("issued + dropped = due", issued + dropped == due,
      f"{issued:,} + {dropped:,} = {due:,} ({rate:.0f} req/s x {doc['config']['duration_s']:.0f} s)")

samples = [line.split() for line in open(fds_file)]
if samples:
    c0, c1 = int(samples[0][1]), int(samples[-1][1])
    check("client fds bounded", c1 <= c0 + 5,
          f"first sample {c0}, last {c1} ({len(samples)} samples)")
check("server fds back to start", srv_after == srv_before,
      f"before {srv_before}, 5 s after the run {srv_after}")
print("RESULT:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
