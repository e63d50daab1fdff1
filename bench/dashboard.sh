#!/usr/bin/env bash
# bench/dashboard.sh — what the live dashboard costs the load generator.
#
# Runs `myriad run` on a pseudo-terminal (util-linux `script`, so stdout is a
# terminal and the dashboard draws) with and without `--no-tui`, interleaved,
# against `myriad serve` pinned to core 0 (the client on core 1), and prints
# the medians of requests per client CPU-second of each and their ratio. The
# JSON report goes to a file (-o), since stdout belongs to the dashboard.
#
# HOW TO RUN (from anywhere)
#   bash bench/dashboard.sh            # C=100, R=3 runs of D=5 seconds each
#   C=1000 R=5 D=10 bash bench/dashboard.sh
set -euo pipefail
C=${C:-100}
R=${R:-3}
D=${D:-5}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v script >/dev/null || { echo "needs script (util-linux)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time (Debian package time)" >&2; exit 1; }
cargo build --release -q -p myriad-cli
MYRIAD="$ROOT/target/release/myriad"
TMP="$(mktemp -d /tmp/myriad-dashboard.XXXXXX)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 "$MYRIAD" serve --threads 1 --listen "127.0.0.1:$PORT" >"$TMP/serve.out" 2>&1 &
SERVE=$!
trap 'kill -INT $SERVE 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

for rep in $(seq 1 "$R"); do
    for mode in dashboard no-tui; do
        flag=""; [[ $mode == no-tui ]] && flag="--no-tui"
        # `script` gives the client a terminal of 120x40; its drawing goes to /dev/null.
        COLUMNS=120 LINES=40 taskset -c 1 /usr/bin/time -f "%U %S" -o "$TMP/time" \
            script -qfec "$MYRIAD run $flag -t 1 -z ${D}s -c $C -o $TMP/r.json http://127.0.0.1:$PORT/" /dev/null >/dev/null
        python3 - "$mode" "$TMP/r.json" "$TMP/time" >>"$TMP/rows.csv" <<'PY'
import json, sys
mode, report, tf = sys.argv[1:4]
u, s = (float(x) for x in open(tf).read().split()[-2:])
r = json.load(open(report))["total"]["requests"]
print(f"{mode},{r['succeeded'] + r['http_errors']},{u + s:.2f}")
PY
    done
done
echo "myriad run on a terminal, with the dashboard and with --no-tui; -c $C, $R x ${D}s; myriad serve on core 0, the client on core 1"
python3 - "$TMP/rows.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1])))
med = {}
for mode in ("dashboard", "no-tui"):
    v = [int(n) / float(c) for m, n, c in rows if m == mode and float(c) > 0]
    med[mode] = statistics.median(v)
    print(f"{mode:10} {med[mode]:>12,.0f} requests per client CPU-second ({len(v)} runs)")
print(f"{'ratio':10} {med['dashboard'] / med['no-tui']:>11.3f}x  (dashboard / --no-tui)")
PY
