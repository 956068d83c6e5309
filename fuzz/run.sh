#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for a bounded time (FUZZ_SECONDS, default 20),
# starting from the committed seeds in fuzz/corpus/<target>/. Prints one summary line per
# target (executions, coverage, crashes) and fails if a target cannot be built or run, or if
# one finds a crash (its input is left in fuzz/artifacts/<target>/; add it to
# fuzz/regressions/<target>/ so tests/fuzz_props.rs replays it).
# There is no nightly toolchain here: RUSTC_BOOTSTRAP=1 lets stable take cargo-fuzz's -Z flags.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-20}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# No sanitizer: the crate is safe Rust; sancov coverage is what the fuzzer needs, and the build
# is a fraction of an ASan one on a shared two-core machine.
cargo fuzz build --sanitizer none
mkdir -p target/logs
failed=0
for target in $(cargo fuzz list); do
    log=target/logs/$target.log
    if ! cargo fuzz run --sanitizer none "$target" -- -max_total_time="$seconds" \
        -max_len=16384 -rss_limit_mb=1024 -print_final_stats=1 >"$log" 2>&1; then
        echo "FUZZ FAILURE: $target (log: fuzz/$log)" >&2
        tail -n 30 "$log" >&2
        failed=1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || echo '?')
    echo "fuzz $target: ${runs} executions in ${seconds}s, cov ${cov}"
done
exit "$failed"
