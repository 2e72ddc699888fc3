#!/usr/bin/env bash
# Runs every RobustMQ benchmark against private mosquitto brokers on loopback and prints the
# table and one JSON line per figure. Builds first if needed (build dir: $BUILD_DIR, default
# `build`, as scripts/test.sh). About 8 minutes on 2 cores.
#   bench/run.sh                 everything
#   RUNS=3 BENCH_SCALE=0.5 bench/run.sh   fewer runs / fewer messages (quicker, noisier)
# Output is also kept in $BENCH_OUT (default build/bench-results/<time>).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
build=${BUILD_DIR:-build}
if [[ ! -f "$build/build.ninja" ]]; then
  meson setup "$build"
fi
programs=(latency throughput spool drain idle events)
targets=()
for p in "${programs[@]}"; do targets+=("bench/robustmq-bench-$p"); done
ninja -C "$build" worker/robustmq-worker "${targets[@]}"

out=${BENCH_OUT:-$build/bench-results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
start=$SECONDS

run() {  # run NAME [env...] -- ARGS: one program, output to $out/NAME.log
  local name=$1; shift
  echo "== $name" >&2
  local t0=$SECONDS
  env "$@" </dev/null >"$out/$name.log" 2>"$out/$name.err" || {
    echo "bench: $name failed; see $out/$name.err" >&2; tail -5 "$out/$name.err" >&2; }
  echo "   $((SECONDS - t0)) s" >&2
}
run latency    "$build/bench/robustmq-bench-latency"
run throughput "$build/bench/robustmq-bench-throughput"
# Diagnostics for the throughput rows: the live path without spooling, and the file backend.
run throughput-nospool BENCH_THRESHOLD=1000000000 "$build/bench/robustmq-bench-throughput" --quick
run throughput-file    BENCH_CACHE=file "$build/bench/robustmq-bench-throughput" --quick
run spool      "$build/bench/robustmq-bench-spool"
run drain      "$build/bench/robustmq-bench-drain"
run idle       "$build/bench/robustmq-bench-idle"
run events     "$build/bench/robustmq-bench-events"

{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'),"\
       "$(free -g | awk '/Mem:/ {print $2}') GiB RAM, kernel $(uname -r)"
  dev=$(df --output=source "$out" | tail -1)
  echo "disk: $(df -h --output=source,fstype,size "$out" | tail -1 | tr -s ' ')" \
       "(rotational: $(lsblk -dno ROTA "$dev" 2>/dev/null || echo unknown))"
  echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- proto lib worker || echo ' + uncommitted proto/lib/worker changes')"
  echo "command: ${RUNS:+RUNS=$RUNS }${BENCH_SCALE:+BENCH_SCALE=$BENCH_SCALE }bench/run.sh  ($((SECONDS - start)) s)"
  for p in latency throughput throughput-nospool throughput-file spool drain idle; do
    grep -v '^JSON ' "$out/$p.log" || true
  done
  echo
  cat "$out"/*.log | grep '^JSON ' | sed 's/^JSON //'
} | tee "$out/summary.txt"
