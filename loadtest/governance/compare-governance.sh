#!/usr/bin/env bash
# loadtest/governance/compare-governance.sh: added latency of sluice at a fixed rate with
# governance off (client keys pass through) and on (a virtual key under a team under a
# customer, each with a budget and a rate limit, strict mode), in one run, interleaved.
#
#   loadtest/governance/compare-governance.sh [RATE] [RUNS]     (defaults: 5000, 3)
#
# Placement as in compare.sh: sluice alone on CPU 1, mock and generator on CPU 0. Loopback only;
# every run is bounded (5 s + 1 s warm-up) and every process is stopped on exit.
set -euo pipefail
RATE=${1:-5000}
RUNS=${2:-3}
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$root/target/release"
work="$(mktemp -d /tmp/sluice-gov-cmp.XXXXXX)"
cleanup() { pkill -P $$ 2>/dev/null || true; kill "${pids[@]}" 2>/dev/null || true; }
pids=()
trap cleanup EXIT
(cd "$root" && cargo build --release -q -p sluice -p sluice-loadtest)

taskset -c 0 "$bin/sluice-mock" --cpus 0 --text-events 4 --thinking false --tool-uses 0 \
    --exit-after 600 > "$work/mock.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [[ -s "$work/mock.out" ]] && break; sleep 0.1; done
mock=$(awk '{print $2}' "$work/mock.out" | head -1)

write_config() { # name governed
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
require_virtual_key = $2
state_dir = "$dir/state"
budget_mode = "strict"
EOT
    if [[ $2 == true ]]; then cat >> "$dir/sluice.toml" <<'EOT'
[[customers]]
id = "acme"
budgets = [{ max_usd = 1000000.0, reset = "1M" }]
rate_limits = [{ requests = 100000000, tokens = 100000000000, window = "1m" }]
[[teams]]
id = "platform"
customer = "acme"
budgets = [{ max_usd = 1000000.0, reset = "1d" }]
rate_limits = [{ requests = 100000000, tokens = 100000000000, window = "1m" }]
[[virtual_keys]]
id = "loadtest"
secret = "sk-sluice-loadtest-key"
team = "platform"
budgets = [{ max_usd = 1000000.0, reset = "1d" }]
rate_limits = [{ requests = 100000000, tokens = 100000000000, window = "1m" }]
EOT
    fi
}

run() { # label url
    "$bin/sluice-loadtest" --url "$2" --profile small --rate "$RATE" --duration 5 --warmup 1 \
        --cpus 0 -H 'x-api-key: sk-sluice-loadtest-key' --json "$work/$1.$3.json" > /dev/null
    python3 -c "import json; d=json.load(open('$work/$1.$3.json')); assert d['errors']['total'] == 0, d['errors']; t=d['latency_us']; print(t['p50'], t['p99'])"
}

start_sluice() { # name
    taskset -c 1 "$bin/sluice" serve --config "$work/$1/sluice.toml" > "$work/$1/out" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do [[ -s "$work/$1/out" ]] && break; sleep 0.1; done
    awk '{print $2}' "$work/$1/out" | head -1
}

write_config off false
write_config on true
off=$(start_sluice off)
on=$(start_sluice on)
echo "rate $RATE/s, $RUNS runs each, interleaved; mock $mock, governance off $off, on $on"
for i in $(seq "$RUNS"); do
    echo "direct $(run direct "http://$mock" "$i")"
    echo "off    $(run off "http://$off" "$i")"
    echo "on     $(run on "http://$on" "$i")"
done | tee "$work/results.txt"
python3 - "$work/results.txt" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, p50, p99 = line.split()
    rows.setdefault(name, []).append((float(p50), float(p99)))
med = {k: (statistics.median(a for a, _ in v), statistics.median(b for _, b in v)) for k, v in rows.items()}
d = med["direct"]
for k in ("off", "on"):
    print(f"governance {k:3s}: p50 {med[k][0]:.1f} us (added {med[k][0]-d[0]:.1f}), p99 {med[k][1]:.1f} us (added {med[k][1]-d[1]:.1f})")
a_off, a_on = med["off"][0] - d[0], med["on"][0] - d[0]
print(f"added p50 with governance on / off = {a_on / a_off:.3f}")
PY
