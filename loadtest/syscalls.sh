#!/usr/bin/env bash
# loadtest/syscalls.sh: what one request costs the sluice shard in system calls, heap allocations
# and CPU, and what an idle shard costs, over a fixed run (counts, not timings).
#
#   loadtest/syscalls.sh --sluice-bin target/release/sluice            # small, 5,000/s, 2 s
#   loadtest/syscalls.sh --sluice-bin B --profile claude-code --strace  # + strace -c -f table
#
# Options:
#   --sluice-bin PATH   the sluice binary measured (required)
#   --bin-dir DIR       where sluice-mock and sluice-loadtest are (default target/release)
#   --profile P         small or claude-code (default small)
#   --rate N --seconds S  fixed open-loop run (default 5000/s for 2 s, plus 1 s warm-up)
#   --strace            run sluice under `strace -c -f` and print the syscall table
#   --idle S            afterwards, the shard's CPU over S idle seconds (default 5)
#   --access-log WHERE  sluice's access_log setting (default off; stderr to count its cost)
#   --out DIR           where results go (default: a new directory under /tmp)
#
# Allocations per request need a binary built with `--features count-allocations` (it exports
# sluice_allocations_total); others report none. Loopback only; everything started is stopped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SLUICE=""; BIN_DIR="$ROOT/target/release"; PROFILE=small; RATE=5000; SECONDS_RUN=2
STRACE=0; IDLE=5; OUT=""; ACCESS_LOG=off
while [[ $# -gt 0 ]]; do
    case "$1" in
        --sluice-bin) SLUICE="$2"; shift ;;
        --bin-dir) BIN_DIR="$2"; shift ;;
        --profile) PROFILE="$2"; shift ;;
        --rate) RATE="$2"; shift ;;
        --seconds) SECONDS_RUN="$2"; shift ;;
        --strace) STRACE=1 ;;
        --idle) IDLE="$2"; shift ;;
        --access-log) ACCESS_LOG="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "syscalls.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[[ -x "$SLUICE" ]] || { echo "syscalls.sh: --sluice-bin PATH is required" >&2; exit 2; }
OUT="${OUT:-$(mktemp -d /tmp/sluice-syscalls.XXXXXX)}"
mkdir -p "$OUT"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_line() {  # wait_line FILE: the "listening ..." line a process prints (15 s)
    for _ in $(seq 1 150); do
        grep -m1 '^listening ' "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
# utime+stime clock ticks of every thread of a process.
ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }
scrape_allocs() {
    { curl -s --max-time 2 "http://$ADMIN/metrics" || true; } | awk '/^sluice_allocations_total/ {s += $2} END {print s + 0}'
}
scrape_requests() {
    { curl -s --max-time 2 "http://$ADMIN/metrics" || true; } | awk '/^sluice_requests_total/ {s += $2} END {print s + 0}'
}

if [[ "$PROFILE" == small ]]; then MOCK_ARGS=(--text-events 4 --thinking false --tool-uses 0)
else MOCK_ARGS=(--text-events 12 --thinking true --tool-uses 1); fi
taskset -c 0 "$BIN_DIR/sluice-mock" --cpus 0 --exit-after 600 "${MOCK_ARGS[@]}" >"$OUT/mock.out" 2>&1 &
PIDS+=($!)
MOCK_PORT="$(wait_line "$OUT/mock.out" | sed 's/.*://')"

cat > "$OUT/sluice.toml" <<EOF
[server]
listen = "127.0.0.1:$(free_port)"
admin_listen = "127.0.0.1:$(free_port)"
cores = 1
access_log = "$ACCESS_LOG"

[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "http://127.0.0.1:$MOCK_PORT"
EOF
WRAP=()
[[ $STRACE -eq 1 ]] && WRAP=(strace -c -f -o "$OUT/strace.txt")
(cd "$OUT" && exec "${WRAP[@]}" taskset -c 1 "$SLUICE" serve --config "$OUT/sluice.toml") \
    >"$OUT/sluice.out" 2>"$OUT/sluice.err" &
WRAPPER=$!; PIDS+=("$WRAPPER")
LINE="$(wait_line "$OUT/sluice.out")" || { cat "$OUT/sluice.err" >&2; exit 1; }
PORT="$(awk '{split($2, a, ":"); print a[2]}' <<<"$LINE")"
ADMIN="$(awk '{print $4}' <<<"$LINE")"
SLUICE_PID="$(pgrep -n -P "$WRAPPER" || echo "$WRAPPER")"
[[ $STRACE -eq 1 ]] || SLUICE_PID="$WRAPPER"
SHARD_TID="$(grep -l sluice-shard-0 /proc/"$SLUICE_PID"/task/*/comm | head -1 | cut -d/ -f5 || true)"
# A binary without a sluice shard thread (loadtest's sluice-floor-proxy): the whole process.
[[ -n "$SHARD_TID" ]] || SHARD_TID="$SLUICE_PID"

LOAD=("$BIN_DIR/sluice-loadtest" --url "http://127.0.0.1:$PORT" --profile "$PROFILE"
      -H "x-api-key: sk-loadtest" --connections 64 --cpus 0 --quiet --timeout-ms 5000)
taskset -c 0 "${LOAD[@]}" --rate 500 --duration 1 >/dev/null   # warm the connections
A0="$(scrape_allocs)"; R0="$(scrape_requests)"; T0="$(ticks "$SHARD_TID")"
taskset -c 0 "${LOAD[@]}" --rate "$RATE" --duration "$(( SECONDS_RUN + 1 ))" --warmup 1 \
    --json "$OUT/load.json" >/dev/null
T1="$(ticks "$SHARD_TID")"; A1="$(scrape_allocs)"; R1="$(scrape_requests)"
sleep 1
I0="$(ticks "$SHARD_TID")"; sleep "$IDLE"; I1="$(ticks "$SHARD_TID")"
kill -TERM "$SLUICE_PID"; wait "$WRAPPER" 2>/dev/null || true

python3 - "$OUT" "$PROFILE" "$RATE" "$(( R1 - R0 ))" "$(( A1 - A0 ))" "$(( T1 - T0 ))" \
    "$(( I1 - I0 ))" "$IDLE" "$(getconf CLK_TCK)" "$STRACE" <<'PY'
import json, sys
out, profile, rate, reqs, allocs, ticks, idle_ticks, idle_s, hz, strace = sys.argv[1:]
reqs, allocs, ticks, idle_ticks, hz = int(reqs), int(allocs), int(ticks), int(idle_ticks), int(hz)
r = json.load(open(f"{out}/load.json"))
lat = r.get("latency_us", {})
counted_by = "sluice"
if not reqs:  # no sluice_requests_total (sluice-floor-proxy): the generator's count
    reqs, counted_by = r["sent"] + r["warmup_requests"], "the load generator"
print(f"profile {profile} at {rate}/s: {reqs} requests (counted by {counted_by}), "
      f"achieved {r['achieved_rps']:.0f}/s, p50 {lat.get('p50')} us, p99 {lat.get('p99')} us, "
      f"errors {r['errors']['total']}")
if reqs:
    print(f"shard CPU: {1000 * ticks / hz / reqs * 1000:.1f} ms per 1,000 requests ({ticks} ticks)")
    print(f"allocations per request: {allocs / reqs:.1f}" if allocs else
          "allocations per request: not counted (build with --features count-allocations)")
print(f"idle shard CPU: {idle_ticks} ticks in {idle_s} s ({100 * idle_ticks / hz / float(idle_s):.2f} %)")
if strace == "1" and reqs:
    # strace counts the whole process life (start, warm-up, run, drain): report per request
    # of everything it saw (warm-up included), so the figures are upper bounds.
    total = reqs + 500
    print(f"syscalls (strace -c -f, per request over {total} requests incl. warm-up):")
    for line in open(f"{out}/strace.txt"):
        parts = line.split()
        if len(parts) >= 5 and parts[3].isdigit() and not line.startswith("---"):
            calls, name = int(parts[3]), parts[-1]
            if calls >= total / 20:
                print(f"  {name:<22} {calls:>9}  {calls / total:6.2f} per request")
PY
echo "raw results in $OUT"
