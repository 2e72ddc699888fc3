#!/usr/bin/env bash
# Runs the whole RobustMQ test suite: installs missing packages, builds, runs meson test.
#   scripts/test.sh                  everything
#   scripts/test.sh --suite support  extra arguments go to `meson test`
# With CI=true warnings are errors. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh

werror=false
if [[ "${CI:-}" == "true" ]]; then werror=true; fi

# setup_build DIR [meson options...]: configures DIR, or reconfigures it if it exists.
setup_build() {
  local dir=$1; shift
  if [[ -f "$dir/build.ninja" ]]; then
    meson setup --reconfigure "$dir" -Dwerror="$werror" "$@"
  else
    meson setup "$dir" -Dwerror="$werror" "$@"
  fi
}

# run_tests DIR [meson test args...]: builds DIR and runs its tests.
run_tests() {
  local dir=$1; shift
  meson compile -C "$dir"
  meson test -C "$dir" --print-errorlogs --num-processes 2 "$@"
}

setup_build build
run_tests build "$@"

# Further builds go here, e.g. a sanitizer build:
#   setup_build build-asan -Db_sanitize=address,undefined -Db_lundef=false
#   run_tests build-asan "$@"
