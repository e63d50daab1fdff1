#!/usr/bin/env bash
# bench/compare.sh — myriad side by side with wrk, on one machine, over loopback.
#
# WHAT IT MEASURES
#   For each concurrency C (default 100 and 1000) it runs wrk and `myriad run`
#   against the same HTTP/1.1 keep-alive target for D seconds each and records,
#   per run:
#     * requests per second (wrk's "Requests/sec:", myriad's JSON
#       .total.requests.per_second);
#     * requests completed (wrk's "N requests in", myriad's succeeded +
#       http_errors; issued is recorded too);
#     * the client's CPU time, user + system, from /usr/bin/time -f "%U %S";
#     * requests per client CPU-second = completed / (user + sys).
#   Then it prints, per concurrency, the medians of each client and the ratios
#   myriad/wrk. Finally it times `myriad demo -q` (1,000,000 requests over
#   1,000 connections to the built-in server, in one process) once.
#
# WHY IT IS RUN THIS WAY (see /work/shared/FACTS.md)
#   * Pinned: the server runs on core 0 and the client on core 1 (taskset), so
#     they do not steal each other's core and each run sees the same layout.
#   * Requests per CPU-second is the number to compare. nginx with one worker
#     serves about 125k-140k req/s and is then the bottleneck, so two good
#     clients show about the same req/s; what differs is how much CPU each
#     spends to get it (almost all of it kernel time: syscalls per request).
#   * Interleaved: wrk, myriad, wrk, myriad, ... so slow drift on the machine
#     (other jobs, thermal, page cache) hits both clients alike rather than
#     one whole batch.
#   * Medians of R repeats: single 5 s runs spread by +-10-20% here; the
#     median ignores one disturbed run. If the repeats of one client differ a
#     lot, something else was using the cores: rerun on a quiet machine.
#   * Noise check: each row also shows srv_s (the server's CPU seconds during
#     the run) and other_s (CPU seconds the whole machine was busy, from
#     /proc/stat, minus the client's and the server's: other processes, plus a
#     little for this script's own helpers). With 2 cores, anything beyond a
#     few percent of the run's duration means the numbers are disturbed; the
#     summary says so.
#
# HOW TO RUN (from the repository root; needs 2+ cores, root or sudo only to
# install missing packages)
#   bash bench/compare.sh                       # nginx target, c=100 and 1000, 3 x 5 s
#   bash bench/compare.sh --server myriad       # the built-in server as target
#   bash bench/compare.sh --connections "100 1000 5000" --repeat 5 --duration 10
#   Options: --server nginx|myriad   --connections "C1 C2 ..."   --repeat N
#            --duration SECONDS      --port N (first port tried, default 18090)
#            --skip-demo             -h|--help
#   Raw rows go to bench/results/compare-<timestamp>.csv (git-ignored).
#   Default total time: about 2 x 2 x 3 x 5 s of runs plus the build and the demo.

set -euo pipefail

# ---------------------------------------------------------------- options ---
SERVER=nginx
CONNECTIONS="100 1000"
REPEAT=3
DURATION=5
PORT=18090
SKIP_DEMO=0

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --server)      SERVER="${2:?--server needs nginx or myriad}"; shift 2 ;;
        --server=*)    SERVER="${1#*=}"; shift ;;
        --connections) CONNECTIONS="${2:?--connections needs a list}"; shift 2 ;;
        --connections=*) CONNECTIONS="${1#*=}"; shift ;;
        --repeat)      REPEAT="${2:?--repeat needs a number}"; shift 2 ;;
        --repeat=*)    REPEAT="${1#*=}"; shift ;;
        --duration)    DURATION="${2:?--duration needs seconds}"; shift 2 ;;
        --duration=*)  DURATION="${1#*=}"; shift ;;
        --port)        PORT="${2:?--port needs a number}"; shift 2 ;;
        --port=*)      PORT="${1#*=}"; shift ;;
        --skip-demo)   SKIP_DEMO=1; shift ;;
        -h|--help)     usage; exit 0 ;;
        *) echo "compare.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

DURATION="${DURATION%s}"
case "$SERVER" in nginx|myriad) ;; *) echo "compare.sh: --server must be nginx or myriad" >&2; exit 2 ;; esac
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]]   || { echo "compare.sh: --repeat must be a whole number >= 1" >&2; exit 2; }
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --duration must be whole seconds >= 1" >&2; exit 2; }
[[ "$PORT" =~ ^[1-9][0-9]*$ ]]     || { echo "compare.sh: --port must be a number" >&2; exit 2; }
read -r -a CONNS <<<"$CONNECTIONS"
[[ ${#CONNS[@]} -gt 0 ]] || { echo "compare.sh: --connections is empty" >&2; exit 2; }
for c in "${CONNS[@]}"; do
    [[ "$c" =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: bad connection count '$c'" >&2; exit 2; }
done

# Work from the repository root whatever the caller's directory.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '==> %s\n' "$*" >&2; }

if [[ "$(nproc)" -lt 2 ]]; then
    echo "compare.sh: needs at least 2 cores (server on core 0, client on core 1); found $(nproc)" >&2
    exit 1
fi

# ------------------------------------------------------------ temp + trap ---
TMP="$(mktemp -d /tmp/myriad-compare.XXXXXX)"
SERVER_PID=""

stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
cleanup() {
    local rc=$?
    stop_server
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --------------------------------------------------------- prerequisites ---
as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else echo "compare.sh: need root (or sudo) to run: $*" >&2; return 1
    fi
}

PKGS=()
command -v wrk >/dev/null 2>&1 || PKGS+=(wrk)
[[ -x /usr/bin/time ]] || PKGS+=(time)
command -v taskset >/dev/null 2>&1 || PKGS+=(util-linux)
command -v python3 >/dev/null 2>&1 || PKGS+=(python3)
NEED_NGINX=0
if [[ "$SERVER" == nginx ]] && ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
    NEED_NGINX=1
fi
if [[ ${#PKGS[@]} -gt 0 || $NEED_NGINX -eq 1 ]]; then
    log "installing missing packages: ${PKGS[*]} $([[ $NEED_NGINX -eq 1 ]] && echo nginx-light)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update
    if [[ ${#PKGS[@]} -gt 0 ]]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${PKGS[@]}"
    fi
    if [[ $NEED_NGINX -eq 1 ]]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light \
            || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y nginx
    fi
fi
NGINX_BIN="$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)"

# ------------------------------------------------------------------ build ---
log "building: cargo build --release -p myriad-cli"
if ! cargo build --release -p myriad-cli; then
    echo "compare.sh: the release build failed; nothing to benchmark" >&2
    exit 1
fi
MYRIAD="$ROOT/target/release/myriad"
[[ -x "$MYRIAD" ]] || { echo "compare.sh: $MYRIAD not found after the build" >&2; exit 1; }

# ----------------------------------------------------------------- server ---
port_free() {
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
}
for _ in $(seq 1 100); do
    port_free "$PORT" && break
    PORT=$((PORT + 1))
done
port_free "$PORT" || { echo "compare.sh: no free port found" >&2; exit 1; }
URL="http://127.0.0.1:$PORT/"

max_c=0
for c in "${CONNS[@]}"; do (( c > max_c )) && max_c=$c; done
WORKER_CONNECTIONS=$(( max_c + 1024 ))

write_nginx_conf() {
    mkdir -p "$TMP/nginx/client_body" "$TMP/nginx/proxy" "$TMP/nginx/fastcgi" \
             "$TMP/nginx/uwsgi" "$TMP/nginx/scgi"
    cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events {
    worker_connections $WORKER_CONNECTIONS;
}
http {
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server {
        listen 127.0.0.1:$PORT backlog=4096;
        location / {
            return 200 "ok";
        }
    }
}
EOF
}

wait_listening() {
    local i
    for i in $(seq 1 100); do
        if [[ -n "$SERVER_PID" ]] && ! kill -0 "$SERVER_PID" 2>/dev/null; then return 1; fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

start_server() {
    if [[ "$SERVER" == nginx ]]; then
        write_nginx_conf
        local eflag=()
        "$NGINX_BIN" -h 2>&1 | grep -q -- '-e filename' && eflag=(-e "$TMP/nginx/error.log")
        taskset -c 0 "$NGINX_BIN" "${eflag[@]}" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' \
            >"$TMP/server.log" 2>&1 &
        SERVER_PID=$!
        SERVER_DESC="nginx $("$NGINX_BIN" -v 2>&1 | sed 's/.*nginx\///'), 1 worker, core 0"
    else
        taskset -c 0 "$MYRIAD" serve --listen "127.0.0.1:$PORT" --threads 1 \
            >"$TMP/server.log" 2>&1 &
        SERVER_PID=$!
        SERVER_DESC="myriad serve, 1 thread, core 0"
    fi
    if ! wait_listening; then
        echo "compare.sh: the $SERVER server did not start; its output:" >&2
        cat "$TMP/server.log" >&2 || true
        [[ -f "$TMP/nginx/error.log" ]] && cat "$TMP/nginx/error.log" >&2
        return 1
    fi
}

log "starting the target: $SERVER on $URL"
start_server || exit 1

# ----------------------------------------------------------------- parsing ---
# parse_run KIND OUTPUT TIMEFILE -> "rps completed issued errors user sys" or fail.
parse_run() {
    python3 - "$@" <<'EOF'
import json, re, sys
kind, out_path, time_path = sys.argv[1:4]
lines = [l for l in open(time_path).read().splitlines() if l.strip()]
user, sys_ = (float(x) for x in lines[-1].split()[:2])
text = open(out_path).read()
if kind == "wrk":
    rps = float(re.search(r"Requests/sec:\s*([0-9.]+)", text).group(1))
    completed = int(re.search(r"^\s*(\d+) requests in", text, re.M).group(1))
    issued = completed
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    if m:
        errors += int(m.group(1))
else:
    req = json.loads(text)["total"]["requests"]
    rps = float(req["per_second"])
    issued = int(req["issued"])
    completed = int(req["succeeded"]) + int(req["http_errors"])
    errors = int(req["http_errors"]) + int(req["failures"])
print(f"{rps:.1f} {completed} {issued} {errors} {user:.2f} {sys_:.2f}")
EOF
}

# cpu_snapshot -> "busy_s server_s": CPU seconds the whole machine has spent
# busy (user+nice+system+irq+softirq, all cores) and the server's CPU seconds
# (its process and direct children, e.g. the nginx worker). The difference of
# two snapshots minus the client's and the server's CPU is what other processes
# used during a run: the noise indicator ("other_s").
cpu_snapshot() {
    python3 - "${SERVER_PID:-0}" <<'EOF'
import os, sys
tck = os.sysconf("SC_CLK_TCK")
busy = 0
for line in open("/proc/stat"):
    if line.startswith("cpu "):
        f = [int(x) for x in line.split()[1:]]
        busy = f[0] + f[1] + f[2] + f[5] + f[6]
        break
def stat(pid):
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
root = int(sys.argv[1] or 0)
srv = 0
if root:
    pids = [root]
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if int(stat(p)[1]) == root:
                    pids.append(int(p))
            except (OSError, IndexError, ValueError):
                pass
    for p in pids:
        try:
            f = stat(p)
            srv += int(f[11]) + int(f[12])
        except (OSError, IndexError, ValueError):
            pass
print(f"{busy / tck:.2f} {srv / tck:.2f}")
EOF
}

# ------------------------------------------------------------------- runs ---
mkdir -p "$ROOT/bench/results"
STAMP="$(date +%Y%m%d-%H%M%S)"
CSV="$ROOT/bench/results/compare-$STAMP.csv"
echo "timestamp,server,client,connections,repeat,duration_s,req_per_s,completed,issued,errors,user_s,sys_s,cpu_s,req_per_cpu_s,server_cpu_s,other_cpu_s,status" >"$CSV"

echo
echo "myriad vs wrk — target: $SERVER_DESC, $URL"
echo "clients on core 1, $REPEAT x ${DURATION}s per client and concurrency, interleaved; $(nproc) cores, $(uname -r)"
echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)  (srv_s = server CPU, other_s = CPU used by everything else during the run)"
echo "myriad: $("$MYRIAD" --version 2>/dev/null || echo '?'); wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
echo
FMT='%-6s %6s %3s %12s %11s %7s %7s %7s %12s %7s %7s  %s\n'
printf "$FMT" client conns rep "req/s" completed errors user_s sys_s "req/cpu-s" srv_s other_s status
printf "$FMT" ------ ------ --- ------------ ----------- ------- ------- ------- ------------ ------- ------- ------

FAILED=0
run_one() {   # run_one CLIENT C REP
    local client=$1 c=$2 rep=$3
    local out="$TMP/$client-$c-$rep.out" tf="$TMP/$client-$c-$rep.time" rc=0
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "!! the $SERVER server died; restarting it" >&2
        start_server || { echo "!! could not restart the server" >&2; }
    fi
    local before after
    before="$(cpu_snapshot)"
    if [[ "$client" == wrk ]]; then
        taskset -c 1 /usr/bin/time -f "%U %S" -o "$tf" \
            wrk -t1 -c"$c" -d"${DURATION}s" "$URL" >"$out" 2>"$out.err" || rc=$?
    else
        taskset -c 1 /usr/bin/time -f "%U %S" -o "$tf" \
            "$MYRIAD" run -q -t 1 -c "$c" -z "${DURATION}s" --json "$URL" >"$out" 2>"$out.err" || rc=$?
    fi
    after="$(cpu_snapshot)"
    local parsed status=ok
    if [[ $rc -ne 0 ]] || ! parsed="$(parse_run "$client" "$out" "$tf" 2>"$out.parse")"; then
        status="failed(exit $rc)"
        FAILED=$((FAILED + 1))
        echo "!! $client run c=$c repeat $rep failed (exit $rc); its output:" >&2
        tail -n 5 "$out" "$out.err" "$out.parse" 2>/dev/null | sed 's/^/   /' >&2 || true
        printf "$FMT" "$client" "$c" "$rep" - - - - - - - - "$status"
        echo "$STAMP,$SERVER,$client,$c,$rep,$DURATION,,,,,,,,,,,$status" >>"$CSV"
        return 0
    fi
    local rps completed issued errors user sys cpu per_cpu b0 s0 b1 s1 srv other
    read -r rps completed issued errors user sys <<<"$parsed"
    read -r b0 s0 <<<"$before"
    read -r b1 s1 <<<"$after"
    read -r cpu per_cpu srv other < <(python3 -c "
c = $user + $sys
srv = max($s1 - $s0, 0.0)
other = max($b1 - $b0 - c - srv, 0.0)
print(f'{c:.2f}', f'{$completed / c:.0f}' if c > 0 else '-', f'{srv:.2f}', f'{other:.2f}')") || true
    if [[ "$errors" != 0 ]]; then status="ok($errors errors)"; fi
    printf "$FMT" "$client" "$c" "$rep" "$rps" "$completed" "$errors" "$user" "$sys" "$per_cpu" "$srv" "$other" "$status"
    [[ "$per_cpu" == - ]] && per_cpu=""
    echo "$STAMP,$SERVER,$client,$c,$rep,$DURATION,$rps,$completed,$issued,$errors,$user,$sys,$cpu,$per_cpu,$srv,$other,$status" >>"$CSV"
}

for c in "${CONNS[@]}"; do
    for rep in $(seq 1 "$REPEAT"); do
        run_one wrk "$c" "$rep"
        run_one myriad "$c" "$rep"
    done
done

stop_server

# ---------------------------------------------------------------- medians ---
echo
echo "Medians over $REPEAT run(s) of ${DURATION}s per client (target: $SERVER_DESC)"
python3 - "$CSV" <<'EOF'
import csv, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["status"].startswith("ok")]
conns = sorted({int(r["connections"]) for r in rows})
def med(client, c, key):
    v = [float(r[key]) for r in rows
         if r["client"] == client and int(r["connections"]) == c and r[key] != ""]
    return (statistics.median(v), min(v), max(v), len(v)) if v else None
def fmt(m):
    return "-" if m is None else f"{m[0]:,.0f}"
def spread(m):
    return "-" if m is None or m[0] == 0 else f"±{(m[2] - m[1]) / 2 / m[0] * 100:.0f}%"
def ratio(a, b):
    return "-" if a is None or b is None or b[0] == 0 else f"{a[0] / b[0]:.2f}x"
hdr = f"{'conns':>6} | {'wrk req/s':>10} {'myriad req/s':>12} {'ratio':>6} | {'wrk req/cpu-s':>13} {'myriad req/cpu-s':>16} {'ratio':>6} | {'runs':>5} {'spread w/m (req/cpu-s)':>22}"
print(hdr)
print("-" * len(hdr))
for c in conns:
    wr, mr = med("wrk", c, "req_per_s"), med("myriad", c, "req_per_s")
    wc, mc = med("wrk", c, "req_per_cpu_s"), med("myriad", c, "req_per_cpu_s")
    n = f"{wc[3] if wc else 0}/{mc[3] if mc else 0}"
    print(f"{c:>6} | {fmt(wr):>10} {fmt(mr):>12} {ratio(mr, wr):>6} | {fmt(wc):>13} {fmt(mc):>16} {ratio(mc, wc):>6} | {n:>5} {spread(wc) + ' / ' + spread(mc):>22}")
print("ratio = myriad / wrk (of the medians); spread = half the min-max range, relative to the median")
others = [float(r["other_cpu_s"]) for r in rows if r.get("other_cpu_s")]
if others:
    worst = max(others)
    dur = float(rows[0]["duration_s"])
    note = ("quiet" if worst < 0.05 * dur else
            "NOISY: other processes competed for the cores; compare with care or rerun on a quiet machine")
    print(f"other processes' CPU during a run: median {statistics.median(others):.2f} s, max {worst:.2f} s per {dur:g} s run ({note})")
EOF
if [[ $FAILED -gt 0 ]]; then echo "$FAILED run(s) failed; see the messages above and the CSV"; fi
echo "raw rows: ${CSV#"$ROOT"/}"

# ------------------------------------------------------------------- demo ---
if [[ $SKIP_DEMO -eq 0 ]]; then
    echo
    echo "Demo: /usr/bin/time -f \"%e %U %S %M\" target/release/myriad demo -q  (1,000,000 requests, 1,000 connections, unpinned)"
    drc=0
    /usr/bin/time -f "%e %U %S %M" -o "$TMP/demo.time" "$MYRIAD" demo -q >"$TMP/demo.out" 2>"$TMP/demo.err" || drc=$?
    if [[ $drc -ne 0 ]]; then
        echo "!! myriad demo failed (exit $drc):"
        tail -n 5 "$TMP/demo.out" "$TMP/demo.err" 2>/dev/null | sed 's/^/   /' || true
        echo "$STAMP,builtin-in-process,demo,1000,1,,,,,,,,,,,,failed(exit $drc)" >>"$CSV"
    else
        read -r wall user sys maxrss < <(tail -n 1 "$TMP/demo.time")
        tput="$(grep -m1 -E '^[[:space:]]*Throughput' "$TMP/demo.out" | sed 's/^[[:space:]]*//' || true)"
        echo "  wall ${wall} s, user ${user} s, sys ${sys} s, max RSS $((maxrss / 1024)) MiB"
        echo "  ${tput:-Throughput line not found in the report}"
        drps="$(sed -n 's/^Throughput[[:space:]]*\([0-9,.]*\) req\/s.*/\1/p' <<<"$tput" | tr -d ,)"
        dreq="$(grep -m1 -E '^[[:space:]]*Requests' "$TMP/demo.out" | awk '{print $2}' | tr -d , || true)"
        echo "$STAMP,builtin-in-process,demo,1000,1,$wall,$drps,$dreq,$dreq,,$user,$sys,$(python3 -c "print(f'{$user + $sys:.2f}')"),,,,ok(wall ${wall}s; cpu includes the server)" >>"$CSV"
    fi
fi
