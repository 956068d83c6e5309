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
# of the runs are printed. Besides the sequential rate, the server's own CPU time (user+system,
# nginx master and worker summed) over the handshake runs is divided by the handshakes made: the
# CPU one handshake costs the server, and so how many one fully busy core could make. As root,
# servers and clients run SCHED_FIFO 20 (as compare.sh's fixed-rate runs) so other work on a
# shared host cannot preempt them. Bounded: every process started here is stopped on exit.
#
#   loadtest/tls_bench.sh [RUNS=3] [TIME=3] [N=2000]      (SLUICE_BIN defaults to target/release/sluice)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${1:-3}"; TIME="${2:-3}"; N="${3:-2000}"
SLUICE_BIN="${SLUICE_BIN:-$ROOT/target/release/sluice}"
DIR="$(mktemp -d /tmp/sluice-tls-bench.XXXXXX)"
PIDS=()
RT=(); [ "$(id -u)" -eq 0 ] && RT=(chrt -f 20)
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
  "${RT[@]}" "$SLUICE_BIN" serve --config "$conf" > "$DIR/$name.out" 2> "$DIR/$name.err" &
  PIDS+=($!)
}
start_sluice plain "$SP"
start_sluice tls "$ST" tls
SLUICE_TLS_PID=${PIDS[-1]}

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
"${RT[@]}" nginx -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/nginx.err" &
PIDS+=($!)
NGINX_PID=$!
for port in $SP $ST $NP $NT; do
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done

# utime+stime clock ticks of processes and their direct children (the nginx worker).
ticks() {
  local total=0 pid
  for pid in "$@" $(for p in "$@"; do cat "/proc/$p/task/$p/children" 2>/dev/null; done); do
    total=$(( total + $(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$pid/stat") ))
  done
  echo "$total"
}
handshakes() { # port server-pid -> "handshakes/s (real time)  server CPU us per handshake"
  local before after out
  before=$(ticks "$2")
  out=$("${RT[@]}" taskset -c 1 openssl s_time -connect "127.0.0.1:$1" -new -time "$TIME" 2>/dev/null \
    | awk '/connections in/ && /real/ {print $1, $4; exit}')
  after=$(ticks "$2")
  awk -v o="$out" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
    'BEGIN {split(o, a, " "); printf "%.1f %.1f\n", a[1] / a[2], t / hz / a[1] * 1e6}'
}
latency() { # url -> "median_us p99_us"
  local urls=(); for _ in $(seq "$N"); do urls+=(-o /dev/null "$1"); done
  "${RT[@]}" taskset -c 1 curl -s --cacert "$DIR/cert.pem" -w '%{time_total}\n' "${urls[@]}" \
    | tail -n +11 | sort -n | awk '{a[NR]=$1} END {printf "%d %d\n", a[int(NR*0.5)]*1e6, a[int(NR*0.99)]*1e6}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for r in $(seq "$RUNS"); do
  latency "http://127.0.0.1:$SP/health" >> "$DIR/lat.sluice.plain"
  latency "https://127.0.0.1:$ST/health" >> "$DIR/lat.sluice.tls"
  latency "http://127.0.0.1:$NP/health" >> "$DIR/lat.nginx.plain"
  latency "https://127.0.0.1:$NT/health" >> "$DIR/lat.nginx.tls"
  handshakes "$ST" "$SLUICE_TLS_PID" >> "$DIR/hs.sluice"
  handshakes "$NT" "$NGINX_PID" >> "$DIR/hs.nginx"
done

echo "runs=$RUNS time=${TIME}s requests/connection=$N nproc=$(nproc) kernel=$(uname -r)"
for who in sluice nginx; do
  hs=$(cut -d' ' -f1 "$DIR/hs.$who" | median); hs_cpu=$(cut -d' ' -f2 "$DIR/hs.$who" | median)
  p50p=$(cut -d' ' -f1 "$DIR/lat.$who.plain" | median); p99p=$(cut -d' ' -f2 "$DIR/lat.$who.plain" | median)
  p50t=$(cut -d' ' -f1 "$DIR/lat.$who.tls" | median); p99t=$(cut -d' ' -f2 "$DIR/lat.$who.tls" | median)
  printf '%-6s handshakes/s %6.0f (server CPU %5.0f us each: %6.0f/s per busy core) | kept-alive plain p50 %4d us p99 %4d us | TLS p50 %4d us p99 %4d us | TLS adds p50 %d us\n' \
    "$who" "$hs" "$hs_cpu" "$(awk -v c="$hs_cpu" 'BEGIN {print 1e6 / c}')" "$p50p" "$p99p" "$p50t" "$p99t" "$((p50t - p50p))"
done
