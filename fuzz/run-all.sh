#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, one after the
# other, on one core: fuzz/run-all.sh [SECONDS] [TARGET...]  (default 900).
# The growing corpus is fuzz/corpus/<target>/ (not committed), started from
# fuzz/seeds/<target>/; a finding lands in fuzz/artifacts/<target>/ and
# stops that target's run. Needs cargo-fuzz and a nightly toolchain.
# Leak detection is off: glibc's per-thread destructor list, allocated
# for the reader's worker threads, shows up as a leak.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-900}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(csv_reader policy_load lowered_expr native_script)
fi
declare -A dict=([csv_reader]=csv [policy_load]=policy [lowered_expr]=rhai [native_script]=rhai)
cargo +nightly fuzz build
status=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    echo "== $t: ${seconds}s"
    cargo +nightly fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$seconds" -dict="fuzz/dict/${dict[$t]}.dict" \
        -timeout=20 -rss_limit_mb=2048 -detect_leaks=0 -print_final_stats=1 || status=1
done
exit $status
