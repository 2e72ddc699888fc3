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

if want normal; then
  setup_build build
  run_tests build "$@"
fi

# suite_targets DIR SUITE...: the files ninja builds for the tests of those suites (each test's
# executable and the programs it runs, its `depends`), one a line.
suite_targets() {
  python3 - "$@" <<'EOF'
import json, os, sys
build, suites = sys.argv[1], set(sys.argv[2:])
def intro(kind):
    with open(os.path.join(build, 'meson-info', 'intro-' + kind + '.json')) as f:
        return json.load(f)
files = {t['id']: t['filename'] for t in intro('targets')}
wanted = set()
for test in intro('tests'):
    if suites & {s.split(':')[-1] for s in test['suite']}:
        for dep in test['depends']:
            wanted.update(os.path.relpath(f, build) for f in files[dep])
print('\n'.join(sorted(wanted)))
EOF
}

asan_suites=(unit cache integration)

if want asan; then
  # -O0: under both sanitizers -O1 takes four times as long to compile (most of this stage's
  # time went into it), and the tests mostly wait for brokers and processes. The sanitizers
  # find the same errors (-O1 can even optimise a bad access away), with plainer stacks.
  setup_build build-asan -Db_sanitize=address,undefined -Doptimization=0 "${sanitizer_opts[@]}"
  # Only what the stage's suites run: not the support and consumption tests or cache_bench.
  mapfile -t targets < <(suite_targets build-asan "${asan_suites[@]}")
  ninja -C build-asan "${targets[@]}"
  # The same integration cases with a fifth of the rounds and payload sizes
  # (ROBUSTMQ_TEST_SCALE): here they hunt memory errors; the normal stage runs them in full.
  ROBUSTMQ_TEST_SCALE=0.2 meson test -C build-asan --no-rebuild --print-errorlogs \
    --num-processes 2 "${asan_suites[@]/#/--suite=}"
fi

if want tsan; then
  setup_build build-tsan -Db_sanitize=thread "${sanitizer_opts[@]}"
  meson compile -C build-tsan unit_ring unit_ring_stress
  # The exhaustive single-threaded ring cases (minutes under TSan, nothing for it to find) run
  # in the normal and ASan builds; here the ring's two-thread cases.
  meson test -C build-tsan --no-rebuild --print-errorlogs --num-processes 2 ring ring_stress \
    --test-args "'--test-case-exclude=records of every size*,random ring contents*'"
fi

if want fuzz; then
  # -fsanitize=fuzzer-no-link instruments the library code too, so that libFuzzer sees its
  # coverage, not just the harness's.
  CC=clang CXX=clang++ setup_build build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
    -Dtests=false -Dcpp_args=-fsanitize=fuzzer-no-link -Dcpp_link_args=-fsanitize=fuzzer-no-link \
    "${sanitizer_opts[@]}"
  run_tests build-fuzz --suite fuzz
fi

if want tidy; then
  [[ -f build/compile_commands.json ]] || setup_build build
  # Every finding is an error (WarningsAsErrors in .clang-tidy); -j 2 as CI has two cores.
  run-clang-tidy -p build -quiet -j 2 "$PWD/(proto|lib|worker|tools)/.*\.cpp\$"
fi
