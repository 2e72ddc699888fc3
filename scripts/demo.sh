#!/usr/bin/env bash
# Builds RobustMQ and runs the demo: 5000 messages through a broker outage, checked on arrival.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
if [[ -f build/build.ninja ]]; then
  meson setup --reconfigure build
else
  meson setup build
fi
meson compile -C build

export ROBUSTMQ_WORKER="$PWD/build/worker/robustmq-worker"
exec build/examples/robustmq-demo "$@"
