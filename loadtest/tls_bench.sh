#!/usr/bin/env bash
# loadtest/tls_bench.sh: what TLS on sluice's listener costs, beside nginx with the same
# certificate, on loopback. Two figures, each for sluice (one shard) and nginx (one worker),
# both pinned to CPU 0 with the clients on CPU 1:
#   - full handshakes per second: `openssl s_time -new` (a fresh TLS connection each time, no
#     resumption, sequential: one client), for TIME seconds;
#   - kept-alive request latency: curl sends N `GET /health` on one connection (plain and
#     TLS), `%{time_total}` of each; median and p99. Both servers answer locally (sluice's data
#     port answers /health itself; nginx `return 200`), so the difference is the TLS record
#     layer, not proxying.
# Runs are interleaved (sluice plain, sluice TLS, nginx plain, nginx TLS) RUNS times; medians
# of the runs are printed. Bounded: every process started here is stopped on exit.
#
#   loadtest/tls_bench.sh [RUNS=3] [TIME=3] [N=2000]      (SLUICE_BIN defaults to target/release/sluice)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${1:-3}"; TIME="${2:-3}"; N="${3:-2000}"
SLUICE_BIN="${SLUICE_BIN:-$ROOT/target/release/sluice}"
DIR="$(mktemp -d /tmp/sluice-tls-bench.XXXXXX)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 2 \
  -keyout "$DIR/key.pem" -out "$DIR/cert.pem" 2>/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SP=$(free_port); ST=$(free_port); NP=$(free_port); NT=$(free_port)

start_sluice() { # name port [tls]
  local name=$1 port=$2 conf="$DIR/$1.toml"
  mkdir -p "$DIR/$name"
  { echo "[server]"; echo "listen = \"127.0.0.1:$port\""; echo 'admin_listen = "off"'
    echo 'cores = 1'; echo 'access_log = "off"'
    if [ "${3:-}" = tls ]; then echo "tls_cert = \"$DIR/cert.pem\""; echo "tls_key = \"$DIR/key.pem\""; fi
    echo "[governance]"; echo "state_dir = \"$DIR/$name\""; } > "$conf"
  "$SLUICE_BIN" serve --config "$conf" > "$DIR/$name.out" 2> "$DIR/$name.err" &
  PIDS+=($!)
}
start_sluice plain "$SP"
start_sluice tls "$ST" tls

cat > "$DIR/nginx.conf" <<NGINX
worker_processes 1;
worker_cpu_affinity 01;
daemon off;
pid $DIR/nginx.pid;
error_log $DIR/nginx.err warn;
events { worker_connections 1024; }
http {
    access_log off;
    tcp_nodelay on;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    client_body_temp_path $DIR/nb; proxy_temp_path $DIR/np; fastcgi_temp_path $DIR/nf;
    uwsgi_temp_path $DIR/nu; scgi_temp_path $DIR/ns;
    server { listen 127.0.0.1:$NP; location / { return 200 '{"status":"ok"}'; } }
    server {
        listen 127.0.0.1:$NT ssl;
        ssl_certificate $DIR/cert.pem;
        ssl_certificate_key $DIR/key.pem;
        location / { return 200 '{"status":"ok"}'; }
    }
}
NGINX
nginx -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/nginx.err" &
PIDS+=($!)
for port in $SP $ST $NP $NT; do
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done

handshakes() { # port -> handshakes/s (real time)
  taskset -c 1 openssl s_time -connect "127.0.0.1:$1" -new -time "$TIME" 2>/dev/null \
    | awk '/connections in/ && /real/ {print $1/$4; exit}'
}
latency() { # url -> "median_us p99_us"
  local urls=(); for _ in $(seq "$N"); do urls+=(-o /dev/null "$1"); done
  taskset -c 1 curl -s --cacert "$DIR/cert.pem" -w '%{time_total}\n' "${urls[@]}" \
    | tail -n +11 | sort -n | awk '{a[NR]=$1} END {printf "%d %d\n", a[int(NR*0.5)]*1e6, a[int(NR*0.99)]*1e6}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for r in $(seq "$RUNS"); do
  latency "http://127.0.0.1:$SP/health" >> "$DIR/lat.sluice.plain"
  latency "https://127.0.0.1:$ST/health" >> "$DIR/lat.sluice.tls"
  latency "http://127.0.0.1:$NP/health" >> "$DIR/lat.nginx.plain"
  latency "https://127.0.0.1:$NT/health" >> "$DIR/lat.nginx.tls"
  handshakes "$ST" >> "$DIR/hs.sluice"
  handshakes "$NT" >> "$DIR/hs.nginx"
done

echo "runs=$RUNS time=${TIME}s requests/connection=$N nproc=$(nproc) kernel=$(uname -r)"
for who in sluice nginx; do
  hs=$(median < "$DIR/hs.$who")
  p50p=$(cut -d' ' -f1 "$DIR/lat.$who.plain" | median); p99p=$(cut -d' ' -f2 "$DIR/lat.$who.plain" | median)
  p50t=$(cut -d' ' -f1 "$DIR/lat.$who.tls" | median); p99t=$(cut -d' ' -f2 "$DIR/lat.$who.tls" | median)
  printf '%-6s handshakes/s %8.0f | kept-alive plain p50 %4d us p99 %4d us | TLS p50 %4d us p99 %4d us | TLS adds p50 %d us\n' \
    "$who" "$hs" "$p50p" "$p99p" "$p50t" "$p99t" "$((p50t - p50p))"
done
