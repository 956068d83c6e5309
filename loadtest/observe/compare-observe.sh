#!/usr/bin/env bash
# loadtest/observe/compare-observe.sh: added latency and CPU per request of sluice at a fixed
# rate with the audit log and OTLP tracing off, and both on (audit fsync 100ms, every request
# traced and exported to a loopback OTLP/HTTP sink), in one run, interleaved.
#
#   loadtest/observe/compare-observe.sh [RATE] [RUNS]     (defaults: 5000, 3)
#
# Builds sluice and the load tools in release mode first, unless both LOADTEST_BIN_DIR (where
# sluice-mock and sluice-loadtest are) and SLUICE_BIN (the sluice binary) are given.
#
# Placement as in compare-governance.sh: sluice (all its threads: shard, audit writer, OTLP
# exporter, access log) on CPU 1; mock, OTLP sink and load generator on CPU 0. CPU per request
# is the sluice process's user+system time (every thread) over the run divided by the requests
# sent. Priorities as in compare.sh's fixed-rate runs: as root, every measured process runs
# SCHED_FIFO (mock 30, load generator, sink and sluice 20, every sluice thread inheriting it) so
# other work on the shared host cannot preempt them mid-request; without root, default
# priorities. Loopback only; every run is bounded (5 s + 1 s warm-up); processes stop on exit.
set -euo pipefail
RATE=${1:-5000}
RUNS=${2:-3}
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${LOADTEST_BIN_DIR:-$root/target/release}"
sluice_bin="${SLUICE_BIN:-$bin/sluice}"
work="$(mktemp -d /tmp/sluice-obs-cmp.XXXXXX)"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT
rt_mock=(); rt=()
if [[ "$(id -u)" -eq 0 ]]; then rt_mock=(chrt -f 30); rt=(chrt -f 20); fi
if [[ -z "${LOADTEST_BIN_DIR:-}" || -z "${SLUICE_BIN:-}" ]]; then
    (cd "$root" && cargo build --release -q -p sluice -p sluice-loadtest)
fi

"${rt_mock[@]}" taskset -c 0 "$bin/sluice-mock" --cpus 0 --text-events 4 --thinking false --tool-uses 1 \
    --exit-after 600 > "$work/mock.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [[ -s "$work/mock.out" ]] && break; sleep 0.1; done
mock=$(awk '{print $2}' "$work/mock.out" | head -1)

# An OTLP/HTTP sink: answers 200 to every POST (the collector's side is not measured).
cat > "$work/sink.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
"${rt[@]}" taskset -c 0 python3 "$work/sink.py" > "$work/sink.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [[ -s "$work/sink.out" ]] && break; sleep 0.1; done
sink=$(head -1 "$work/sink.out")

write_config() { # name observed
    local dir="$work/$1"; mkdir -p "$dir"
    cat > "$dir/sluice.toml" <<EOT
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
cores = 1
access_log = "off"
[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "http://$mock"
keys = [{ secret = "sk-provider" }]
[governance]
state_dir = "$dir/state"
EOT
    if [[ $2 == true ]]; then cat >> "$dir/sluice.toml" <<EOT
[audit]
dir = "$dir/audit"
fsync = "100ms"
[telemetry]
otlp_endpoint = "http://127.0.0.1:$sink"
sample_ratio = 1.0
EOT
    fi
}

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() { # label url pid i
    local before after
    [[ -n "$3" ]] && before=$(ticks "$3")
    "${rt[@]}" "$bin/sluice-loadtest" --url "$2" --profile small --rate "$RATE" --duration 6 --warmup 1 \
        --cpus 0 -H 'x-api-key: sk-client' --json "$work/$1.$4.json" > /dev/null
    [[ -n "$3" ]] && after=$(ticks "$3")
    python3 -c "
import json, os
d = json.load(open('$work/$1.$4.json')); assert d['errors']['total'] == 0, d['errors']
t = d['latency_us']; n = d['scheduled']  # every request sent, warm-up included
cpu = ('$3' and (${after:-0} - ${before:-0}) / os.sysconf('SC_CLK_TCK') / n * 1e6) or 0
print(t['p50'], t['p99'], round(cpu, 2))"
}

start_sluice() { # name
    "${rt[@]}" taskset -c 1 "$sluice_bin" serve --config "$work/$1/sluice.toml" > "$work/$1/out" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do [[ -s "$work/$1/out" ]] && break; sleep 0.1; done
}

write_config off false
write_config on true
start_sluice off; off_pid=${pids[-1]}; off=$(awk '{print $2}' "$work/off/out" | head -1)
start_sluice on; on_pid=${pids[-1]}; on=$(awk '{print $2}' "$work/on/out" | head -1)
echo "rate $RATE/s, $RUNS runs each, interleaved; mock $mock, sink $sink, off $off, on $on"
for i in $(seq "$RUNS"); do
    echo "direct $(run direct "http://$mock" "" "$i")"
    echo "off    $(run off "http://$off" "$off_pid" "$i")"
    echo "on     $(run on "http://$on" "$on_pid" "$i")"
done | tee "$work/results.txt"
echo "threads of sluice (on) and the CPU each last ran on:"
ps -L -o tid=,psr=,comm= -p "$on_pid"
echo "audit records written: $(cat "$work"/on/audit/*.jsonl | wc -l)"
python3 - "$work/results.txt" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, p50, p99, cpu = line.split()
    rows.setdefault(name, []).append((float(p50), float(p99), float(cpu)))
med = {k: [statistics.median(r[i] for r in v) for i in range(3)] for k, v in rows.items()}
d = med["direct"]
for k in ("off", "on"):
    p50, p99, cpu = med[k]
    print(f"audit+tracing {k:3s}: p50 {p50:.1f} us (added {p50-d[0]:.1f}), "
          f"p99 {p99:.1f} us (added {p99-d[1]:.1f}), CPU {cpu:.2f} us/request")
a_off, a_on = med["off"][0] - d[0], med["on"][0] - d[0]
print(f"added p50 on / off = {a_on / a_off:.3f}; CPU per request on - off = {med['on'][2] - med['off'][2]:.2f} us")
PY
