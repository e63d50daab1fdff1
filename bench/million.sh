#!/usr/bin/env bash
# A million concurrent connections on one machine, client and server both on
# loopback: `bash bench/million.sh` from the repository root.
#
# Starts `myriad serve --workers auto` (SO_REUSEPORT worker processes, each under
# the open-files limit), then `myriad run -c N --per-connection-interval I -z D`:
# the client spreads its connections over worker processes and 127.x source
# addresses by itself, opens them at its default connect rate, has each send one
# request per interval, and holds them all until the end. Prints peak concurrent
# connections (client and server view), time to establish them, requests and
# errors, client and server RSS per connection, and kernel memory per connection.
#
# Knobs (environment): N=1000000 INTERVAL=120s DURATION=180s PORT=18100. The
# duration must outlast establishing all connections (a minute or two here), or
# the first ones close before the last ones open.
# It raises net.core.somaxconn and net.ipv4.tcp_max_syn_backlog to 4096 if they
# are lower (root only) and says so; the defaults of this machine need nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-1000000}
INTERVAL=${INTERVAL:-120s}
DURATION=${DURATION:-180s}
PORT=${PORT:-18100}
OUT=bench/results/million-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

command -v pstree >/dev/null || { apt-get update -qq && apt-get install -y -qq psmisc; }
cargo build --release -q -p myriad-cli
BIN=$PWD/target/release/myriad

for s in net.core.somaxconn net.ipv4.tcp_max_syn_backlog; do
  v=$(sysctl -n "$s")
  if [ "$v" -lt 4096 ]; then
    echo "raising $s from $v to 4096"
    sysctl -qw "$s=4096"
  fi
done

echo "== plan"
"$BIN" run --dry-run -c "$N" --per-connection-interval "$INTERVAL" -z "$DURATION" "http://127.0.0.1:$PORT/"

"$BIN" serve --workers auto --max-connections "$N" --listen "127.0.0.1:$PORT" --json >"$OUT/serve.out" 2>"$OUT/serve.err" &
SERVE=$!
cleanup() { kill -INT "$SERVE" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  grep -q listening "$OUT/serve.out" 2>/dev/null && break
  sleep 0.2
done
head -1 "$OUT/serve.out"

# Sum of RSS and of PSS (KiB) of a process and all its descendants. RSS counts
# the binary's shared pages once per process; PSS divides them among the
# processes that share them, so it is the memory the tree really uses.
tree_mem() {
  local pids p rss=0 pss=0 r q  # processes only: /proc/TID of a thread shows its whole process
  pids=$(pstree -pT "$1" 2>/dev/null | grep -o '([0-9]*)' | tr -d '()')
  for p in $pids; do
    r=$(awk '/^Rss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
    q=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
    rss=$((rss + ${r:-0})); pss=$((pss + ${q:-0}))
  done
  echo "$rss $pss"
}

echo "== run"
start=$(date +%s.%N)
"$BIN" run -q -c "$N" --per-connection-interval "$INTERVAL" -z "$DURATION" --timeout 30s \
  --json -o "$OUT/report.json" "http://127.0.0.1:$PORT/" >/dev/null 2>"$OUT/run.err" &
RUN=$!
peak_client=0; peak_server=0; pss_client=0; pss_server=0
while kill -0 "$RUN" 2>/dev/null; do
  read -r c cp < <(tree_mem "$RUN"); read -r s sp < <(tree_mem "$SERVE")
  [ "$c" -gt "$peak_client" ] && peak_client=$c
  [ "$cp" -gt "$pss_client" ] && pss_client=$cp
  [ "$s" -gt "$peak_server" ] && peak_server=$s
  [ "$sp" -gt "$pss_server" ] && pss_server=$sp
  sleep 3
done
wait "$RUN" || echo "myriad run exited with $?"
end=$(date +%s.%N)
kill -INT "$SERVE"; wait "$SERVE" || true
trap - EXIT

python3 - "$OUT/report.json" "$OUT/serve.out" "$peak_client" "$peak_server" "$start" "$end" "$pss_client" "$pss_server" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
serve = [l for l in open(sys.argv[2]) if l.startswith("{")]
s = json.loads(serve[-1]) if serve else {}
pc, ps = int(sys.argv[3]) * 1024, int(sys.argv[4]) * 1024
qc, qs = int(sys.argv[7]) * 1024, int(sys.argv[8]) * 1024
wall = float(sys.argv[6]) - float(sys.argv[5])
c = r["connections"]; t = r["total"]["requests"]; k = r.get("kernel") or {}
peak = max(c["peak_open"], 1)
print(f"peak concurrent connections   client {c['peak_open']:,}   server {s.get('peak_connections', 0):,}")
print(f"established                   {c['established']:,} of {c['planned']:,} in {c['establish_all_s'] or float('nan'):.1f} s "
      f"(connect p50 {c['connect_latency_us']['p50']} us, p99 {c['connect_latency_us']['p99']} us)")
print(f"requests                      {t['issued']:,} issued = {t['succeeded']:,} ok + {t['http_errors']:,} http errors + {t['failures']:,} failures")
print(f"errors by kind                {r['total']['errors']}")
print(f"client memory                 PSS {qc/2**20:.0f} MiB ({qc/peak:.0f} B per connection), RSS {pc/2**20:.0f} MiB ({pc/peak:.0f} B); sampled peaks")
print(f"server memory                 PSS {qs/2**20:.0f} MiB ({qs/peak:.0f} B per connection), RSS {ps/2**20:.0f} MiB ({ps/peak:.0f} B), {s.get('workers', '?')} workers")
print(f"kernel memory                 {k.get('per_connection_bytes', 0):.0f} B per connection (slab {k.get('slab_bytes', 0)/2**20:.0f} MiB, tcp buffers {k.get('tcp_buffers_bytes', 0)/2**20:.0f} MiB, both ends)")
print(f"client processes              {r['config']['processes']}, source addresses {r['config']['source_addresses']}")
print(f"whole run                     {wall:.0f} s wall; client cpu {r['client']['cpu_user_s']:.1f} s user + {r['client']['cpu_system_s']:.1f} s system")
PY
echo "raw: $OUT"
