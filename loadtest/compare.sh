#!/usr/bin/env bash
# loadtest/compare.sh: drive the same profiles at the same rates, in one run, straight at the
# mock (direct), through sluice and through nginx, on this host, and print what each proxy adds.
#
#   loadtest/compare.sh            # full run, about 9-10 minutes
#   loadtest/compare.sh --quick    # about 2-3 minutes, one repeat, shorter runs
#
# Options:
#   --quick             one repeat, 2 s runs, coarser rate search, 200 streams
#   --runs N            repeats per measurement (medians are reported; default 3)
#   --duration S        seconds per measured run (default 5; plus 1 s warm-up)
#   --rates "A B"       fixed rates (default "1000 5000")
#   --streams N         concurrent streams held in the streams test (default 2000; 0 skips)
#   --p99-limit-ms MS   p99 bound for the highest-sustained-rate search (default 10)
#   --phases "..."      which parts to run, of: rates max streams (default all three)
#   --no-sluice         leave sluice out        --no-nginx   leave nginx out
#   --no-build          use binaries already built (LOADTEST_BIN_DIR, SLUICE_BIN)
#   --sluice-bin PATH   measure this sluice binary (same as SLUICE_BIN=PATH; it is not built)
#   --install           apt-get install nginx if it is missing (never done silently)
#   --no-rt             run measured processes at nice -10 instead of SCHED_FIFO 20 (root only)
#   --access-log WHERE  sluice's access_log (default off, as the targets are defined; stderr
#                       measures the cost of logging every request)
#   --out DIR           where results go (default: a new directory under /tmp)
#
# Loopback only. Every process started here is stopped on exit; every run is bounded.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="$ROOT/loadtest"
RUNS=3
DURATION=5
WARMUP=1
RATES="1000 5000"
STREAMS=2000
STREAM_HOLD=12
P99_LIMIT_MS=10
PROBE_SECS=3
SEARCH_STEPS=4
QUICK=0
WITH_SLUICE=1
WITH_NGINX=1
BUILD=1
INSTALL=0
REALTIME=1
PHASES="rates max streams"
OUT=""
CONNECTIONS=64
MAX_PROBE_RATE=200000
GROWTH_PCT=150
ACCESS_LOG=off

while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=1; RUNS=1; DURATION=2; STREAMS=200; STREAM_HOLD=6; PROBE_SECS=1; SEARCH_STEPS=2; GROWTH_PCT=200 ;;
        --runs) RUNS="$2"; shift ;;
        --duration) DURATION="$2"; shift ;;
        --rates) RATES="$2"; shift ;;
        --streams) STREAMS="$2"; shift ;;
        --p99-limit-ms) P99_LIMIT_MS="$2"; shift ;;
        --no-sluice) WITH_SLUICE=0 ;;
        --no-nginx) WITH_NGINX=0 ;;
        --no-build) BUILD=0 ;;
        --sluice-bin) SLUICE_BIN="$2"; shift ;;
        --install) INSTALL=1 ;;
        --no-rt) REALTIME=0 ;;
        --phases) PHASES="$2"; shift ;;
        --access-log) ACCESS_LOG="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

say() { printf '%s\n' "$*" >&2; }
die() { say "compare.sh: $*"; exit 1; }

for tool in python3 curl taskset; do
    command -v "$tool" >/dev/null || die "$tool is needed (apt-get install -y python3 curl util-linux)"
done

# ---- nginx: Debian's package, never installed silently -------------------------------------
NGINX_BIN="$(command -v nginx || true)"
[[ -z "$NGINX_BIN" && -x /usr/sbin/nginx ]] && NGINX_BIN=/usr/sbin/nginx
if [[ $WITH_NGINX -eq 1 && -z "$NGINX_BIN" ]]; then
    if [[ $INSTALL -eq 1 ]]; then
        say "installing nginx (Debian package) as asked by --install"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
        NGINX_BIN="$(command -v nginx || echo /usr/sbin/nginx)"
    else
        say "nginx is not installed. Install it with:"
        say "    apt-get update && apt-get install -y nginx"
        say "or run: loadtest/compare.sh --install   (or --no-nginx to leave it out)"
        exit 1
    fi
fi

# ---- build ----------------------------------------------------------------------------------
BIN_DIR="${LOADTEST_BIN_DIR:-}"
SLUICE="${SLUICE_BIN:-$ROOT/target/release/sluice}"
if [[ $BUILD -eq 1 ]]; then
    say "building release binaries (cargo build --release -p sluice-loadtest)"
    (cd "$ROOT" && cargo build --release -q -p sluice-loadtest) || die "building sluice-loadtest failed"
    BIN_DIR="${BIN_DIR:-$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release}"
    if [[ $WITH_SLUICE -eq 1 && -z "${SLUICE_BIN:-}" ]]; then
        say "building sluice (cargo build --release -p sluice)"
        if (cd "$ROOT" && cargo build --release -q -p sluice); then
            SLUICE="$(dirname "$BIN_DIR/x")/sluice"
        else
            say "sluice did not build: leaving it out of this run"
            WITH_SLUICE=0
        fi
    fi
fi
BIN_DIR="${BIN_DIR:-$ROOT/target/release}"
MOCK="$BIN_DIR/sluice-mock"
LOAD="$BIN_DIR/sluice-loadtest"
[[ -x "$MOCK" && -x "$LOAD" ]] || die "no binaries in $BIN_DIR (build, or set LOADTEST_BIN_DIR)"
if [[ $WITH_SLUICE -eq 1 ]] && ! "$SLUICE" --version >/dev/null 2>&1; then
    say "sluice binary $SLUICE does not run: leaving it out of this run"
    WITH_SLUICE=0
fi

# ---- placement ------------------------------------------------------------------------------
NCPU="$(nproc)"
if [[ "$NCPU" -ge 3 ]]; then
    CPU_LOAD=0; CPU_MOCK=2; CPU_PROXY=1
else
    CPU_LOAD=0; CPU_MOCK=0; CPU_PROXY=1
fi
[[ "$NCPU" -ge 2 ]] || die "needs at least 2 CPUs (one for the proxy, one for the rest)"
# Priorities. Fixed-rate and streams runs: real-time FIFO for every measured process so other work on the
# host cannot preempt them mid-request, the mock one step above the generator so it answers as
# soon as a request lands (as a separate upstream host would). The highest-rate search: nice -10
# under the normal scheduler, because a real-time process that
# saturates a CPU is throttled by the kernel (sched_rt_runtime_us) in 50 ms stalls that would
# look like latency. --no-rt uses nice -10 everywhere. Without root: default priorities.
PRIV=()
PRIO_MOCK=(); PRIO_LOAD=(); PRIO_PROXY=()
set_priorities() {  # set_priorities rt|cfs
    PRIO_MOCK=(); PRIO_LOAD=(); PRIO_PROXY=()
    [[ "$(id -u)" -eq 0 ]] || return 0
    if [[ "$1" == rt && $REALTIME -eq 1 ]]; then
        PRIO_MOCK=(chrt -f 30); PRIO_LOAD=(chrt -f 20); PRIO_PROXY=(chrt -f 20)
    else
        PRIO_MOCK=(nice -n -10); PRIO_LOAD=(nice -n -10); PRIO_PROXY=(nice -n -10)
    fi
}
[[ "$(id -u)" -eq 0 ]] && PRIV=(setpriv --reuid=65534 --regid=65534 --clear-groups)

OUT="${OUT:-$(mktemp -d /tmp/sluice-compare.XXXXXX)}"
mkdir -p "$OUT/runs"
chmod 755 "$OUT"
MEASURE="$OUT/measurements.jsonl"
: > "$MEASURE"

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits for the line starting "listening " that a background process writes to $1 (15 s).
first_line() {
    local file="$1" i line
    for i in $(seq 1 150); do
        line="$(grep -m1 '^listening [0-9.]*:[0-9][0-9]*' "$file" 2>/dev/null || true)"
        if [[ -n "$line" ]]; then echo "$line"; return 0; fi
        sleep 0.1
    done
    return 1
}

# utime+stime clock ticks of a process and its direct children (nginx workers).
cpu_ticks() {
    local total=0 pid
    for pid in "$@" $(for p in "$@"; do cat "/proc/$p/task/$p/children" 2>/dev/null; done); do
        if [[ -r "/proc/$pid/stat" ]]; then
            total=$(( total + $(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$pid/stat") ))
        fi
    done
    echo "$total"
}

# Peak RSS (VmHWM, kB) summed over a process and its direct children.
hwm_kb() {
    local total=0 pid v
    for pid in "$@" $(for p in "$@"; do cat "/proc/$p/task/$p/children" 2>/dev/null; done); do
        v=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        total=$(( total + ${v:-0} ))
    done
    echo "$total"
}

MOCK_PID=""; MOCK_PORT=""
start_mock() {
    local log="$OUT/mock-$1.out"; shift
    "${PRIO_MOCK[@]}" taskset -c "$CPU_MOCK" "$MOCK" --cpus "$CPU_MOCK" --exit-after 3600 "$@" >"$log" 2>&1 &
    MOCK_PID=$!; PIDS+=("$MOCK_PID")
    local line; line="$(first_line "$log")" || die "mock did not start: $(cat "$log")"
    MOCK_PORT="${line##*:}"
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

NGINX_PID=""; NGINX_PORT=""
start_nginx() {
    local dir="$OUT/nginx-$1"; rm -rf "$dir"; mkdir -p "$dir"
    NGINX_PORT="$(free_port)"
    sed -e "s|@DIR@|$dir|g" -e "s|@LISTEN@|127.0.0.1:$NGINX_PORT|" \
        -e "s|@UPSTREAM@|127.0.0.1:$MOCK_PORT|" -e "s|@CPU_MASK@|$(cpu_mask "$CPU_PROXY")|" \
        "$HERE/nginx.conf.template" > "$dir/nginx.conf"
    [[ ${#PRIV[@]} -gt 0 ]] && chown -R 65534:65534 "$dir"
    "${PRIO_PROXY[@]}" taskset -c "$CPU_PROXY" "${PRIV[@]}" "$NGINX_BIN" -p "$dir" -c "$dir/nginx.conf" \
        -e "$dir/error.log" >"$dir/stdout" 2>&1 &
    NGINX_PID=$!; PIDS+=("$NGINX_PID")
    wait_port "$NGINX_PORT" || die "nginx did not start: $(cat "$dir/error.log" "$dir/stdout" 2>/dev/null)"
}
cpu_mask() { local cpu="$1" mask="1"; for ((i = 0; i < cpu; i++)); do mask="${mask}0"; done; echo "$mask"; }
wait_port() {
    local i
    for i in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

SLUICE_PID=""; SLUICE_PORT=""; SLUICE_ADMIN=""
start_sluice() {
    local dir="$OUT/sluice-$1"; rm -rf "$dir"; mkdir -p "$dir"
    cat > "$dir/sluice.toml" <<EOF
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
    (cd "$dir" && exec "${PRIO_PROXY[@]}" taskset -c "$CPU_PROXY" "$SLUICE" serve --config "$dir/sluice.toml") \
        >"$dir/stdout" 2>"$dir/stderr" &
    SLUICE_PID=$!; PIDS+=("$SLUICE_PID")
    local line; line="$(first_line "$dir/stdout")" || die "sluice did not start: $(cat "$dir/stderr")"
    # listening 127.0.0.1:P admin 127.0.0.1:A shards N
    SLUICE_PORT="$(awk '{split($2, a, ":"); print a[2]}' <<<"$line")"
    SLUICE_ADMIN="$(awk '{print $4}' <<<"$line")"
    # sluice pins its shard itself; move every thread onto the proxy CPU as the table says.
    taskset -a -cp "$CPU_PROXY" "$SLUICE_PID" >/dev/null
    wait_port "$SLUICE_PORT" || die "sluice is not listening on $SLUICE_PORT"
}

declare -A URL PROC
set_targets() {
    URL[direct]="http://127.0.0.1:$MOCK_PORT"; PROC[direct]=""
    TARGETS=(direct)
    if [[ $WITH_SLUICE -eq 1 ]]; then
        URL[sluice]="http://127.0.0.1:$SLUICE_PORT"; PROC[sluice]="$SLUICE_PID"; TARGETS+=(sluice)
    fi
    if [[ $WITH_NGINX -eq 1 ]]; then
        URL[nginx]="http://127.0.0.1:$NGINX_PORT"; PROC[nginx]="$NGINX_PID"; TARGETS+=(nginx)
    fi
}

start_proxies() {
    [[ $WITH_SLUICE -eq 1 ]] && start_sluice "$1"
    [[ $WITH_NGINX -eq 1 ]] && start_nginx "$1"
    set_targets
}
stop_proxies() {
    [[ -n "$SLUICE_PID" ]] && stop_pid "$SLUICE_PID"; SLUICE_PID=""
    [[ -n "$NGINX_PID" ]] && stop_pid "$NGINX_PID"; NGINX_PID=""
}

LOAD_ARGS=(-H "x-api-key: sk-loadtest" --connections "$CONNECTIONS" --cpus "$CPU_LOAD" --quiet)
run_load() {  # run_load URL PROFILE RATE SECONDS JSON
    "${PRIO_LOAD[@]}" taskset -c "$CPU_LOAD" "$LOAD" --url "$1" --profile "$2" --rate "$3" \
        --duration "$(( $4 + WARMUP ))" --warmup "$WARMUP" --timeout-ms 5000 \
        --json "$5" "${LOAD_ARGS[@]}" >/dev/null
}

scrape() { curl -s --max-time 2 "http://$SLUICE_ADMIN/metrics" > "$1" 2>/dev/null || : > "$1"; }

# One measured run of TARGET; appends a line to the measurements.
measure() {  # measure KIND PROFILE RATE RUN TARGET
    local kind="$1" profile="$2" rate="$3" run="$4" target="$5"
    local json="$OUT/runs/$profile-$rate-$target-$run.json" pids="${PROC[$target]}"
    local before=0 after=0 overhead="null"
    [[ "$target" == sluice ]] && scrape "$OUT/runs/metrics-before"
    [[ -n "$pids" ]] && before="$(cpu_ticks $pids)"
    run_load "${URL[$target]}" "$profile" "$rate" "$DURATION" "$json"
    [[ -n "$pids" ]] && after="$(cpu_ticks $pids)"
    if [[ "$target" == sluice ]]; then
        scrape "$OUT/runs/metrics-after"
        overhead="$(python3 "$HERE/compare_report.py" overhead "$OUT/runs/metrics-before" \
            "$OUT/runs/metrics-after" sluice_overhead_seconds)"
    fi
    local cpu="null" hwm="null"
    if [[ -n "$pids" ]]; then
        cpu="$(python3 -c "print(($after - $before) / $(getconf CLK_TCK))")"
        hwm="$(hwm_kb $pids)"
    fi
    printf '{"kind":"%s","profile":"%s","rate":%s,"run":%s,"target":"%s","result":"%s","cpu_s":%s,"hwm_kb":%s,"overhead":%s}\n' \
        "$kind" "$profile" "$rate" "$run" "$target" "$json" "$cpu" "$hwm" "$overhead" >> "$MEASURE"
    python3 - "$json" "$target" "$rate" <<'PY' >&2
import json, sys
r = json.load(open(sys.argv[1]))
l = r.get("latency_us", {})
print(f"    {sys.argv[2]:>6} @ {sys.argv[3]:>6}: achieved {r['achieved_rps']:.0f}/s  p50 {l.get('p50')}  "
      f"p99 {l.get('p99')}  p99.9 {l.get('p99_9')} us  errors {r['errors']['total']}")
PY
}

# Highest rate with p99 under the limit: grow by 1.5x (2x with --quick) until a probe fails,
# then bisect. Bounded: at most log1.5(MAX_PROBE_RATE / 2000) + SEARCH_STEPS rates, two probes
# each.
search_max() {  # search_max TARGET PROFILE
    local target="$1" profile="$2" rate=2000 pass=0 fail=0 probes=0 verdict json p99=null
    local limit_us=$(( P99_LIMIT_MS * 1000 ))
    # A probe fails only if it fails twice: one noisy second on a shared host is not a limit.
    probe() { probe_once "$1" || probe_once "$1"; }
    # CPU of the server under test during each probe: the proxy, or the mock when direct.
    local pids="${PROC[$target]:-}"
    [[ -z "$pids" ]] && pids="$MOCK_PID"
    probe_once() {
        json="$OUT/runs/max-$profile-$target-$1.json"; probes=$((probes + 1))
        local before after
        before="$(cpu_ticks $pids)"
        "${PRIO_LOAD[@]}" taskset -c "$CPU_LOAD" "$LOAD" --url "${URL[$target]}" --profile "$profile" \
            --rate "$1" --duration "$(( PROBE_SECS + WARMUP ))" --warmup "$WARMUP" \
            --timeout-ms 5000 --json "$json" "${LOAD_ARGS[@]}" >/dev/null || return 1
        after="$(cpu_ticks $pids)"
        python3 -c "print(($after - $before) / $(getconf CLK_TCK))" > "${json%.json}.cpu"
        verdict="$(python3 "$HERE/compare_report.py" judge "$json" "$limit_us")"
        say "    $target max search: $1/s -> $verdict"
        [[ "$verdict" == pass ]]
    }
    while [[ $rate -le $MAX_PROBE_RATE ]]; do
        if probe "$rate"; then pass=$rate; rate=$(( rate * GROWTH_PCT / 100 )); else fail=$rate; break; fi
    done
    if [[ $fail -gt 0 ]]; then
        local step
        for ((step = 0; step < SEARCH_STEPS; step++)); do
            local mid=$(( (pass + fail) / 2 ))
            [[ $(( fail - pass )) -le $(( pass / 20 + 100 )) ]] && break
            if probe "$mid"; then pass=$mid; else fail=$mid; fi
        done
    fi
    local cpu=null
    if [[ $pass -gt 0 ]]; then
        p99="$(python3 -c "import json; print(json.load(open('$OUT/runs/max-$profile-$target-$pass.json'))['latency_us']['p99'])")"
        cpu="$(cat "$OUT/runs/max-$profile-$target-$pass.cpu" 2>/dev/null || echo null)"
    fi
    printf '{"kind":"max","profile":"%s","target":"%s","max_rate":%s,"p99_us":%s,"probes":%s,"cpu_s":%s,"result":"%s"}\n' \
        "$profile" "$target" "$pass" "$p99" "$probes" "$cpu" "$OUT/runs/max-$profile-$target-$pass.json" >> "$MEASURE"
}

START_TS=$(date +%s)
{
    echo "# sluice comparison run $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "- host: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
    echo "- placement: load generator on CPU $CPU_LOAD, mock on CPU $CPU_MOCK, the proxy under test alone on CPU $CPU_PROXY"
    if [[ "$CPU_LOAD" == "$CPU_MOCK" ]]; then
        echo "  (2 CPUs: the proxy gets a whole core, as in production; generator and mock share the"
        echo "  other, identically for every target, so 'added' = proxy's cost + one extra loopback hop)"
    fi
    if [[ ${#PRIV[@]} -gt 0 && $REALTIME -eq 1 ]]; then
        echo "- priority: fixed-rate runs SCHED_FIFO (mock 30, generator and proxy 20) so other work on the"
        echo "  host cannot preempt them (streams too); the highest-rate search at nice -10 (a saturated"
        echo "  real-time CPU is throttled in 50 ms stalls); nginx runs as uid 65534"
    elif [[ ${#PRIV[@]} -gt 0 ]]; then
        echo "- priority: nice -10 for every measured process; nginx runs as uid 65534"
    else
        echo "- priority: default (not root); nginx runs as the current user"
    fi
    echo "- runs: $RUNS x ${DURATION}s (+${WARMUP}s warm-up) per cell, medians reported; $CONNECTIONS keep-alive connections; open loop"
    echo "- targets: direct ${WITH_SLUICE:+}$( [[ $WITH_SLUICE -eq 1 ]] && echo "sluice ($SLUICE)" ) $( [[ $WITH_NGINX -eq 1 ]] && echo "nginx ($("$NGINX_BIN" -v 2>&1 | cut -d/ -f2))" )"
} | tee "$OUT/header.md" >&2

# ---- fixed rates: non-streaming (small) and streaming (claude-code) --------------------------
mock_args() {  # the mock's response shape for a profile
    if [[ "$1" == small ]]; then echo "--text-events 4 --thinking false --tool-uses 0"
    else echo "--text-events 12 --thinking true --tool-uses 1"; fi
}
phase() { [[ " $PHASES " == *" $1 "* ]]; }
for profile in small claude-code; do
    phase rates || continue
    set_priorities rt
    # shellcheck disable=SC2046
    start_mock "$profile" $(mock_args "$profile")
    start_proxies "$profile"
    say "== $profile: mock on :$MOCK_PORT; targets ${TARGETS[*]}"
    for target in "${TARGETS[@]}"; do  # warm every path once (connections, caches)
        run_load "${URL[$target]}" "$profile" 500 1 "$OUT/runs/warm-$profile-$target.json" || true
    done
    for rate in $RATES; do
        for ((run = 1; run <= RUNS; run++)); do
            for target in "${TARGETS[@]}"; do
                measure rate "$profile" "$rate" "$run" "$target"
            done
        done
    done
    stop_proxies
    stop_pid "$MOCK_PID"
done

# ---- highest sustained rate, small profile (normal scheduler, see priorities above) ---------
if phase max; then
set_priorities cfs
# shellcheck disable=SC2046
start_mock max $(mock_args small)
start_proxies max
say "== highest sustained rate with p99 < ${P99_LIMIT_MS} ms (small)"
for target in "${TARGETS[@]}"; do search_max "$target" small; done
stop_proxies
stop_pid "$MOCK_PID"
fi

# ---- concurrent streams ---------------------------------------------------------------------
if [[ "$STREAMS" -gt 0 ]] && phase streams; then
    set_priorities rt
    # Each stream lasts about 6.5 s: the events up to the first text delta at once, then 62
    # events 100 ms apart (10 events/s, a brisk token rate).
    start_mock streams --text-events 50 --thinking true --tool-uses 1 --pace-us 100000
    start_proxies streams
    say "== $STREAMS concurrent claude-code streams, ${STREAM_HOLD}s each target"
    for target in "${TARGETS[@]}"; do
        json="$OUT/runs/streams-$target.json"
        pids="${PROC[$target]:-}"; [[ -z "$pids" ]] && pids="$MOCK_PID"
        before="$(cpu_ticks $pids)"
        "${PRIO_LOAD[@]}" taskset -c "$CPU_LOAD" "$LOAD" --url "${URL[$target]}" --profile claude-code \
            --concurrent-streams "$STREAMS" --ramp 2 --duration "$STREAM_HOLD" --timeout-ms 30000 \
            --json "$json" -H "x-api-key: sk-loadtest" --cpus "$CPU_LOAD" --quiet >/dev/null || true
        cpu="$(python3 -c "print(($(cpu_ticks $pids) - $before) / $(getconf CLK_TCK))")"
        hwm="null"; [[ -n "${PROC[$target]}" ]] && hwm="$(hwm_kb ${PROC[$target]})"
        printf '{"kind":"streams","target":"%s","result":"%s","hwm_kb":%s,"cpu_s":%s,"hold_s":%s}\n' \
            "$target" "$json" "$hwm" "$cpu" "$STREAM_HOLD" >> "$MEASURE"
        say "    $target done"
    done
    stop_proxies
    stop_pid "$MOCK_PID"
fi

{
    cat "$OUT/header.md"
    python3 "$HERE/compare_report.py" report "$MEASURE"
    echo
    echo "total time $(( $(date +%s) - START_TS )) s; raw results in $OUT"
} | tee "$OUT/report.md"
