#!/usr/bin/env bash
# bench/protocols.sh — myriad side by side with h2load (and oha if installed)
# on HTTPS and pipelined HTTP/1.1, against nginx, on one machine.
#
# WHAT IT MEASURES
#   Requests per client CPU-second (completed / (user + system), from
#   /usr/bin/time) for each line:
#     https-keepalive   HTTPS, keep-alive, -c C:  myriad vs h2load --h1 (vs oha)
#     https-handshakes  HTTPS, a new connection per request: myriad
#                       --disable-keepalive vs oha --disable-keepalive (if oha)
#     h1-pipeline-16    plaintext HTTP/1.1 pipelined 16 deep: myriad
#                       --pipeline 16 vs h2load --h1 -m 16
#     h1-plain          plaintext HTTP/1.1 keep-alive: myriad vs h2load --h1
#     h2c-streams-1     HTTP/2 with prior knowledge, 1 stream per connection:
#                       myriad --h2c -p 1 vs h2load -m 1
#     h2c-streams-10    the same with 10 streams per connection
#     h2-tls-streams-10 HTTP/2 over TLS (ALPN h2), 10 streams per connection:
#                       myriad --http2 -p 10 vs h2load -m 10
#   nginx (one worker) runs on core 0, every client on core 1; each line runs
#   the clients interleaved, R times, D seconds each; the table shows medians
#   and the ratio myriad / best peer. See bench/compare.sh for why it is run so.
#
# HOW TO RUN (from anywhere; root or sudo installs what is missing)
#   bash bench/protocols.sh                 # C=100, R=3, D=5
#   C=1000 R=5 D=10 bash bench/protocols.sh
#   oha is used when on PATH (cargo install oha --locked, about 4 minutes).
#   MYRIAD=/path/to/myriad bash bench/protocols.sh   # another build of myriad
#                                           # (e.g. the previous commit's), not built here
set -euo pipefail
C=${C:-100}
R=${R:-3}
D=${D:-5}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
as_root() { if [[ "$(id -u)" -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
need=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v openssl >/dev/null || need+=(openssl)
[[ -x /usr/bin/time ]] || need+=(time)
if [[ ${#need[@]} -gt 0 ]]; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
if [[ -z "${MYRIAD:-}" ]]; then
    cargo build --release -q -p myriad-cli
    MYRIAD="$ROOT/target/release/myriad"
fi

TMP="$(mktemp -d /tmp/myriad-protocols.XXXXXX)"
cleanup() { [[ -f "$TMP/nginx.pid" ]] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
# A server certificate (CA:FALSE: rustls refuses a CA certificate as a server's).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -addext basicConstraints=critical,CA:FALSE \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PLAIN=$(free_port); TLS=$(free_port); H2C=$(free_port); H2TLS=$(free_port)
cat >"$TMP/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/error.log warn;
events { worker_connections $((C + 1024)); }
http {
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    client_body_temp_path $TMP; proxy_temp_path $TMP; fastcgi_temp_path $TMP;
    uwsgi_temp_path $TMP; scgi_temp_path $TMP;
    ssl_session_cache shared:S:10m;
    server { listen 127.0.0.1:$PLAIN backlog=4096; location / { return 200 "ok"; } }
    server {
        listen 127.0.0.1:$H2C http2 backlog=4096;
        http2_max_requests 1000000000;
        location / { return 200 "ok"; }
    }
    server {
        listen 127.0.0.1:$TLS ssl backlog=4096;
        ssl_certificate $TMP/cert.pem; ssl_certificate_key $TMP/key.pem;
        location / { return 200 "ok"; }
    }
    server {
        listen 127.0.0.1:$H2TLS ssl http2 backlog=4096;
        ssl_certificate $TMP/cert.pem; ssl_certificate_key $TMP/key.pem;
        location / { return 200 "ok"; }
    }
}
EOF
taskset -c 0 "$NGINX" -c "$TMP/nginx.conf" -g 'daemon off;' >"$TMP/nginx.out" 2>&1 &
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$TLS") 2>/dev/null && break; sleep 0.1; done

HTTP="http://127.0.0.1:$PLAIN/"
HTTPS="https://localhost:$TLS/"
CSV="$TMP/rows.csv"
# run LINE CLIENT CMD...: one timed run, appends "line,client,completed,cpu".
run() {
    local line=$1 client=$2; shift 2
    taskset -c 1 /usr/bin/time -f "%U %S" -o "$TMP/time" "$@" >"$TMP/out" 2>"$TMP/err" || true
    python3 - "$line" "$client" "$TMP/out" "$TMP/time" >>"$CSV" <<'PY'
import json, re, sys
line, client, out, tf = sys.argv[1:5]
u, s = (float(x) for x in open(tf).read().split()[-2:])
text = open(out).read()
done = 0
try:
  if client == "myriad":
    r = json.loads(text)["total"]["requests"]
    done = r["succeeded"] + r["http_errors"]
  elif client == "h2load":
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", text)
    done = int(m.group(1)) if m else 0
  elif client == "oha":
    t = json.loads(text)
    done = sum(t.get("statusCodeDistribution", {}).values())
except (ValueError, KeyError):
  # A client that failed to run (its output is not what was expected)
  # counts no requests, and the line shows without it.
  done = 0
print(f"{line},{client},{done},{u + s:.2f}")
PY
}
M=("$MYRIAD" run -q --json -t 1 -z "${D}s")
H=(h2load -t 1 -D "$D")
OHA=$(command -v oha || true)
for rep in $(seq 1 "$R"); do
    run https-keepalive myriad "${M[@]}" -c "$C" --cacert "$TMP/cert.pem" "$HTTPS"
    run https-keepalive h2load "${H[@]}" --h1 -c "$C" "$HTTPS"
    [[ -n "$OHA" ]] && run https-keepalive oha "$OHA" --no-tui --output-format json -z "${D}s" -c "$C" --insecure "$HTTPS"
    if [[ -n "$OHA" ]]; then
        run https-handshakes myriad "${M[@]}" -c "$C" -k --disable-keepalive "$HTTPS"
        run https-handshakes oha "$OHA" --no-tui --output-format json -z "${D}s" -c "$C" --insecure --disable-keepalive "$HTTPS"
    fi
    run h1-pipeline-16 myriad "${M[@]}" -c "$C" --pipeline 16 "$HTTP"
    run h1-pipeline-16 h2load "${H[@]}" --h1 -m 16 -c "$C" "$HTTP"
    run h1-plain myriad "${M[@]}" -c "$C" "$HTTP"
    run h1-plain h2load "${H[@]}" --h1 -c "$C" "$HTTP"
    for m in 1 10; do
        run "h2c-streams-$m" myriad "${M[@]}" -c "$C" --h2c -p "$m" "http://127.0.0.1:$H2C/"
        run "h2c-streams-$m" h2load "${H[@]}" -c "$C" -m "$m" "http://127.0.0.1:$H2C/"
        [[ -n "$OHA" ]] && run "h2c-streams-$m" oha "$OHA" --no-tui --output-format json -z "${D}s" -c "$C" --http2 -p "$m" "http://127.0.0.1:$H2C/"
    done
    run h2-tls-streams-10 myriad "${M[@]}" -c "$C" --http2 -p 10 --cacert "$TMP/cert.pem" "https://localhost:$H2TLS/"
    run h2-tls-streams-10 h2load "${H[@]}" -c "$C" -m 10 "https://localhost:$H2TLS/"
done
echo "myriad vs peers, nginx 1 worker on core 0, clients on core 1, -c $C, $R x ${D}s, medians of requests per client CPU-second"
python3 - "$CSV" <<'PY'
import csv, statistics, sys
rows = [r for r in csv.reader(open(sys.argv[1]))]
lines = list(dict.fromkeys(r[0] for r in rows))
print(f"{'line':18} {'client':8} {'req/cpu-s':>12} {'runs':>5}")
for line in lines:
    med = {}
    for client in dict.fromkeys(r[1] for r in rows if r[0] == line):
        v = [int(r[2]) / float(r[3]) for r in rows if r[0] == line and r[1] == client and float(r[3]) > 0 and int(r[2]) > 0]
        if v:
            med[client] = statistics.median(v)
            print(f"{line:18} {client:8} {med[client]:>12,.0f} {len(v):>5}")
    peers = [v for c, v in med.items() if c != "myriad"]
    if "myriad" in med and peers:
        print(f"{line:18} {'ratio':8} {med['myriad'] / max(peers):>11.2f}x  (myriad / best peer)")
PY
