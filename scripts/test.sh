#!/usr/bin/env bash
# Runs the whole RobustMQ test suite: installs missing packages, builds, runs meson test.
#   scripts/test.sh                  everything (the stages below)
#   scripts/test.sh --suite support  extra arguments go to `meson test` of the normal build, and
#                                    then only that build runs (unless STAGES says otherwise)
# Stages, in order (STAGES="normal asan tsan fuzz tidy" selects some):
#   normal  build/       gcc, every suite
#   asan    build-asan/  gcc -O0, AddressSanitizer + UndefinedBehaviorSanitizer: unit, cache and
#                        integration suites, the latter with ROBUSTMQ_TEST_SCALE=0.2 (fewer
#                        rounds, smaller payloads). Paho and SQLite are uninstrumented system
#                        libraries: their own bugs go unseen, our misuse of their buffers does not
#   tsan    build-tsan/  gcc, ThreadSanitizer: the ring tests (unit: ring, ring_stress)
#   fuzz    build-fuzz/  clang + libFuzzer with ASan/UBSan: each fuzz target for
#                        ROBUSTMQ_FUZZ_SECONDS (default 20) from its seeds in test/fuzz/corpus/
#   tidy    clang-tidy (.clang-tidy) over proto/, lib/, worker/, tools/ with build/compile_commands.json
# The stages' tests run one after another, in that order. The work that needs CPU but runs no
# test (the asan, tsan and fuzz builds, then clang-tidy) runs meanwhile in the background at the
# lowest priority (nice 19), from the moment the normal build is done: it takes the CPU that the
# tests leave idle while they wait for brokers and processes, and yields it whenever a test wants
# it. A stage waits for its build (at normal priority again) before its tests, and prints the
# build's output then; the tidy stage waits for clang-tidy at the end. Where the script may not
# raise a priority again (not root), the background work runs at normal priority beside the
# tests, which pass beside busy CPUs anyway (scripts/stress-test.sh).
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

if (($# > 0)); then default_stages="normal"; else default_stages="normal asan tsan fuzz tidy"; fi
stages=" ${STAGES:-$default_stages} "
want() { [[ "$stages" == *" $1 "* ]]; }

# Sanitizer builds leave out benchmarks and examples, which no test runs.
sanitizer_opts=(-Dbench=false -Dexamples=false -Db_lundef=false)
# A sanitizer report fails the test, with a stack, instead of scrolling past.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/test/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"

# --- the background work ----------------------------------------------------------------------
# Each step is a function, run in order by one background job (a process group of its own, so
# that it can be stopped as a whole); its output goes to $bg_logs/STEP.log and its exit status to
# $bg_logs/STEP.status.
bg_logs=$(mktemp -d)
bg_pid=
bg_nice=0
bg_steps=()
stop_background() {
  if [[ -n $bg_pid ]] && kill -0 "$bg_pid" 2>/dev/null; then
    kill -TERM -- "-$bg_pid" 2>/dev/null || true
    wait "$bg_pid" 2>/dev/null || true
  fi
  rm -rf "$bg_logs"
}
trap stop_background EXIT

# Whether this script may raise a process's priority again (as root, or within RLIMIT_NICE).
can_renice() {
  sleep 30 &
  local pid=$! ok=0
  { renice -n 19 -p "$pid" && renice -n 0 -p "$pid"; } >/dev/null 2>&1 || ok=$?
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return "$ok"
}

start_background() {
  ((${#bg_steps[@]} > 0)) || return 0
  # At nice 19 only if a stage waiting for it can raise its priority again: else, beside other
  # load (as beside scripts/stress-test.sh's CPU hogs), it would all but stop. Without that
  # right it runs at normal priority, beside the tests.
  if can_renice; then bg_nice=19; fi
  set -m  # job control: the job gets a process group of its own
  (
    # Only ever lowered: a script already running at a lower priority (nice scripts/test.sh, a
    # runner with Nice=) keeps it, rather than failing to raise it.
    if ((bg_nice > 0)); then renice -n "$bg_nice" -p "$BASHPID" >/dev/null || true; fi
    : >"$bg_logs/reniced"
    set +e  # a failed step does not stop the next: its stage reports it
    for step in "${bg_steps[@]}"; do
      (set -e; "$step") >"$bg_logs/$step.log" 2>&1
      echo "$?" >"$bg_logs/$step.status"
    done
  ) &
  bg_pid=$!
  set +m
  # Before any wait_for raises its priority again.
  while [[ ! -f $bg_logs/reniced ]] && kill -0 "$bg_pid" 2>/dev/null; do sleep 0.1; done
}

# renice_background N: the background job and every process below it, compilers included:
# ninja starts each command in a process group of its own, so renicing the job's group would
# leave the compilers running at the old priority.
descendants() {
  local child
  for child in $(pgrep -P "$1"); do
    echo "$child"
    descendants "$child"
  done
}
# Every thread too: Linux keeps a nice value per thread, and a thread spawns at its own (the
# worker threads of run-clang-tidy start each clang-tidy).
# A process may end between pgrep and the look at its threads: a glob, which matches nothing
# then, and not ls, whose failure would end this script under set -e.
renice_background() {
  local pid task tids=()
  for pid in "$bg_pid" $(descendants "$bg_pid"); do
    for task in "/proc/$pid/task/"*; do
      if [[ -e $task ]]; then tids+=("${task##*/}"); fi
    done
  done
  renice -n "$1" -p "${tids[@]}" >/dev/null 2>&1 || true
}

# wait_for STEP: waits for a background step, at normal priority while nothing else runs, and
# prints its output. Returns its exit status.
wait_for() {
  local step=$1
  echo "=== $step (in the background)"
  if [[ ! -f $bg_logs/$step.status ]]; then
    if ((bg_nice > 0)); then renice_background 0; fi
    while [[ ! -f $bg_logs/$step.status ]]; do
      if ! kill -0 "$bg_pid" 2>/dev/null && [[ ! -f $bg_logs/$step.status ]]; then
        echo "the background job ended before $step" >&2
        return 1
      fi
      sleep 1
    done
    if ((bg_nice > 0)); then renice_background "$bg_nice"; fi
  fi
  cat "$bg_logs/$step.log"
  return "$(cat "$bg_logs/$step.status")"
}

# suite_targets DIR SUITE...: the files ninja builds for the tests of those suites, one a line.
suite_targets() { python3 scripts/suite_targets.py "$@"; }

asan_suites=(unit cache integration)
build_asan() {
  # -O0: under both sanitizers -O1 takes four times as long to compile, and the tests mostly
  # wait for brokers and processes. The sanitizers find the same errors (-O1 can even optimise
  # a bad access away), with plainer stacks.
  setup_build build-asan -Db_sanitize=address,undefined -Doptimization=0 "${sanitizer_opts[@]}"
  # Only what the stage's suites run: not the support and consumption tests or cache_bench.
  local list targets
  list=$(suite_targets build-asan "${asan_suites[@]}")
  mapfile -t targets <<<"$list"
  ninja -C build-asan "${targets[@]}"
}

build_tsan() {
  setup_build build-tsan -Db_sanitize=thread "${sanitizer_opts[@]}"
  meson compile -C build-tsan unit_ring unit_ring_stress
}

build_fuzz() {
  # -fsanitize=fuzzer-no-link instruments the library code too, so that libFuzzer sees its
  # coverage, not just the harness's.
  CC=clang CXX=clang++ setup_build build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
    -Dtests=false -Dcpp_args=-fsanitize=fuzzer-no-link -Dcpp_link_args=-fsanitize=fuzzer-no-link \
    "${sanitizer_opts[@]}"
  meson compile -C build-fuzz
}

run_tidy() {
  # Every finding is an error (WarningsAsErrors in .clang-tidy); -j 2 as CI has two cores.
  run-clang-tidy -p build -quiet -j 2 "$PWD/(proto|lib|worker|tools)/.*\.cpp\$"
}

if want asan; then bg_steps+=(build_asan); fi
if want tsan; then bg_steps+=(build_tsan); fi
if want fuzz; then bg_steps+=(build_fuzz); fi
if want tidy; then bg_steps+=(run_tidy); fi

# --- the stages --------------------------------------------------------------------------------
if want normal; then
  setup_build build
  meson compile -C build
  start_background
  meson test -C build --print-errorlogs --num-processes 2 "$@"
else
  if want tidy && [[ ! -f build/compile_commands.json ]]; then setup_build build; fi
  start_background
fi

if want asan; then
  wait_for build_asan
  # The same integration cases with a fifth of the rounds and payload sizes
  # (ROBUSTMQ_TEST_SCALE): here they hunt memory errors; the normal stage runs them in full.
  ROBUSTMQ_TEST_SCALE=0.2 meson test -C build-asan --no-rebuild --print-errorlogs \
    --num-processes 2 "${asan_suites[@]/#/--suite=}"
fi

if want tsan; then
  wait_for build_tsan
  # The exhaustive single-threaded ring cases (minutes under TSan, nothing for it to find) run
  # in the normal and ASan builds; here the ring's two-thread cases.
  meson test -C build-tsan --no-rebuild --print-errorlogs --num-processes 2 ring ring_stress \
    --test-args "'--test-case-exclude=records of every size*,random ring contents*'"
fi

if want fuzz; then
  wait_for build_fuzz
  meson test -C build-fuzz --no-rebuild --print-errorlogs --num-processes 2 --suite fuzz
fi

if want tidy; then
  wait_for run_tidy
fi
