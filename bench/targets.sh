#!/usr/bin/env bash
# bench/targets.sh — the cost of requests from data, side by side in one run.
#
# WHAT IT MEASURES
#   Requests per client CPU-second (completed / (user + sys) from
#   /usr/bin/time) against nginx (one worker, pinned to core 0; access log
#   off), the client pinned to core 1, for:
#     * constant   myriad run URL                         (one request built once)
#     * targets    myriad run --targets FILE              (1,000 different URLs)
#     * template   myriad run 'URL/item/{{rand_int 1 1000}}'
#     * wrk-lua    wrk -s paths.lua                       (a path per request from
#                                                          the same 1,000, LuaJIT)
#     * before     with --before PATH: the constant request from another
#                  myriad binary (one built before a change), so "the constant
#                  case stays as fast" is measured in the same run
#   interleaved (constant, targets, template, wrk-lua, constant, ...), R repeats
#   of D seconds, medians printed. See bench/compare.sh for why it is run so.
#
# HOW TO RUN (from the repository root; needs nginx, wrk, 2+ cores)
#   bash bench/targets.sh [--repeat N] [--duration S] [--connections C] [--myriad PATH] [--before PATH]
#   Default: 3 x 5 s x 4 clients at c=100 with target/release/myriad.

set -euo pipefail

REPEAT=3
DURATION=5
CONNECTIONS=100
MYRIAD=target/release/myriad
BEFORE=
PORT=18190
while [[ $# -gt 0 ]]; do
    case "$1" in
        --repeat) REPEAT="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --connections) CONNECTIONS="$2"; shift 2 ;;
        --myriad) MYRIAD="$2"; shift 2 ;;
        --before) BEFORE="$2"; shift 2 ;;
        --port) PORT="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "targets.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done

[[ -x "$MYRIAD" ]] || cargo build --release -p myriad-cli
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
WORK=$(mktemp -d /tmp/myriad-bench-targets.XXXXXX)
trap 'kill "$(cat "$WORK/nginx.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$WORK"' EXIT

mkdir -p "$WORK/tmp"
cat > "$WORK/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $WORK/tmp;
    proxy_temp_path $WORK/tmp;
    fastcgi_temp_path $WORK/tmp;
    uwsgi_temp_path $WORK/tmp;
    scgi_temp_path $WORK/tmp;
    server { listen 127.0.0.1:$PORT; location / { return 200 "ok"; } }
}
EOF
taskset -c 0 "$NGINX" -c "$WORK/nginx.conf" -g 'daemon on;'
sleep 0.5
BASE="http://127.0.0.1:$PORT"

# The same 1,000 paths for myriad's targets file and wrk's script.
: > "$WORK/targets.txt"
echo "paths = {" > "$WORK/paths.lua"
for i in $(seq 1 1000); do
    printf 'GET %s/item/%d\n\n' "$BASE" "$i" >> "$WORK/targets.txt"
    printf '  "/item/%d",\n' "$i" >> "$WORK/paths.lua"
done
cat >> "$WORK/paths.lua" <<'EOF'
}
n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1])
end
EOF

# Runs one client; prints completed requests and CPU seconds.
run() {
    local kind=$1 out cpu n
    case "$kind" in
        constant) out=$( { taskset -c 1 /usr/bin/time -f "%U %S" "$MYRIAD" run -q --json -t 1 -z "${DURATION}s" -c "$CONNECTIONS" "$BASE/item/1"; } 2>"$WORK/time") ;;
        targets)  out=$( { taskset -c 1 /usr/bin/time -f "%U %S" "$MYRIAD" run -q --json -t 1 -z "${DURATION}s" -c "$CONNECTIONS" --targets "$WORK/targets.txt"; } 2>"$WORK/time") ;;
        template) out=$( { taskset -c 1 /usr/bin/time -f "%U %S" "$MYRIAD" run -q --json -t 1 -z "${DURATION}s" -c "$CONNECTIONS" "$BASE/item/{{rand_int 1 1000}}"; } 2>"$WORK/time") ;;
        before)   out=$( { taskset -c 1 /usr/bin/time -f "%U %S" "$BEFORE" run -q --json -t 1 -z "${DURATION}s" -c "$CONNECTIONS" "$BASE/item/1"; } 2>"$WORK/time") ;;
        wrk-lua)  out=$( { taskset -c 1 /usr/bin/time -f "%U %S" wrk -t1 -c "$CONNECTIONS" -d "${DURATION}s" -s "$WORK/paths.lua" "$BASE/"; } 2>"$WORK/time") ;;
    esac
    cpu=$(tail -1 "$WORK/time" | awk '{print $1 + $2}')
    if [[ $kind == wrk-lua ]]; then
        n=$(echo "$out" | awk '/requests in/ {print $1}')
    else
        n=$(echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin)["total"]["requests"]; print(r["succeeded"] + r["http_errors"])')
    fi
    echo "$n $cpu"
}

KINDS=(constant targets template wrk-lua)
[[ -n "$BEFORE" ]] && KINDS=(before "${KINDS[@]}")
declare -A RESULTS
for r in $(seq 1 "$REPEAT"); do
    for kind in "${KINDS[@]}"; do
        read -r n cpu < <(run "$kind")
        rate=$(awk -v n="$n" -v c="$cpu" 'BEGIN { printf "%.0f", n / c }')
        echo "run $r $kind: $n requests, $cpu CPU-s, $rate req/CPU-s" >&2
        RESULTS[$kind]+="$rate "
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "| client (c=$CONNECTIONS, ${DURATION}s, median of $REPEAT) | requests per client CPU-second |"
echo "|---|---|"
for kind in "${KINDS[@]}"; do
    echo "| $kind | $(echo "${RESULTS[$kind]}" | median) |"
done
