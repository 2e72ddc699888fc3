#!/bin/sh
# Runs one libFuzzer target for a bounded time, as a meson test:
#   run_fuzzer.sh <fuzzer> <seed corpus dir> <work dir>
# New inputs go to <work dir>/corpus (the committed seeds stay untouched), crashes to
# <work dir>/crash-*. ROBUSTMQ_FUZZ_SECONDS sets the time (default 20); run longer by hand with
#   ROBUSTMQ_FUZZ_SECONDS=3600 meson test -C build-fuzz --suite fuzz --timeout-multiplier 0
set -eu
fuzzer=$1 seeds=$2 work=$3
seconds=${ROBUSTMQ_FUZZ_SECONDS:-20}
mkdir -p "$work/corpus"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/corpus" "$seeds"
