#!/usr/bin/env bash
# Runs the test command (scripts/test.sh) with two busy CPU hogs beside it, as on a machine where
# another job runs: the suite must not depend on having the CPUs to itself. Not part of CI.
#   scripts/stress-test.sh                         every stage of scripts/test.sh, once
#   scripts/stress-test.sh --runs 3                three times in a row, stopping at the first
#                                                  failure
#   STAGES=normal scripts/stress-test.sh --suite integration
#                                                  STAGES and every argument other than --runs go
#                                                  to scripts/test.sh as they are
# Exits with the status of the failing run, or 0 when every run passed.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: $0 [--runs N] [scripts/test.sh arguments...]" >&2
  exit 2
}

runs=1
args=()
while (($# > 0)); do
  case "$1" in
    --runs)
      (($# >= 2)) || usage
      runs=$2
      shift 2
      ;;
    --runs=*)
      runs=${1#--runs=}
      shift
      ;;
    *)
      args+=("$1")
      shift
      ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || usage

hogs=()
stop_hogs() {
  if ((${#hogs[@]} > 0)); then
    kill "${hogs[@]}" 2>/dev/null || true
    wait "${hogs[@]}" 2>/dev/null || true
  fi
}
trap stop_hogs EXIT
# Interrupted or terminated: exit, which runs the EXIT trap and stops the hogs.
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Two shell busy loops: all user time, no I/O, as greedy as the scheduler lets them be.
for _ in 1 2; do
  while :; do :; done &
  hogs+=("$!")
done
echo "stress-test: CPU hogs running as pids ${hogs[*]}"

for ((run = 1; run <= runs; ++run)); do
  echo "stress-test: run $run of $runs: scripts/test.sh ${args[*]}"
  status=0
  scripts/test.sh "${args[@]}" || status=$?
  if ((status != 0)); then
    echo "stress-test: run $run of $runs failed with status $status" >&2
    exit "$status"
  fi
done
echo "stress-test: $runs run(s) passed"
