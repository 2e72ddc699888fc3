#!/usr/bin/env bash
# The four ways to consume RobustMQ, each built from scratch outside this build and run against
# a private mosquitto, with ROBUSTMQ_WORKER unset (the library must find its worker by itself):
#   1. a Meson project with RobustMQ as a subproject through subprojects/robustmq.wrap
#      (a wrap-file whose tarball sits in subprojects/packagecache: no network);
#   2. `meson install` to a prefix, then a plain Makefile through `pkg-config robustmq`;
#   3. a C program (examples/c_example.c) compiled with the C compiler against that install;
#   4. CMake projects with find_package(robustmq) against that install: C++, and C alone.
# Usage: run_consumption.sh SOURCE_ROOT WORK_DIR    (WORK_DIR is wiped first)
#        run_consumption.sh SOURCE_ROOT WORK_DIR --installed WORKER
# The second runs 2-4 against the RobustMQ installed on the system (the Debian packages:
# scripts/package-test.sh), whose library must find its worker at WORKER.
set -euo pipefail

src=$(cd "$1" && pwd)
work=$2
installed_worker=
if (($# == 4)) && [[ $3 == --installed ]]; then installed_worker=$4; fi
here=$src/test/consumption
unset ROBUSTMQ_WORKER
mosquitto=${MOSQUITTO:-/usr/sbin/mosquitto}
# buildtype plain (no optimisation): these builds check how RobustMQ is consumed, not its speed,
# and they run beside the rest of the suite.
nested_opts=(-Dtests=false -Dbench=false -Dexamples=false -Dwerror=false --buildtype=plain)

step() { echo; echo "=== consumption: $*"; }
fail() { echo "FAIL (consumption): $*" >&2; exit 1; }
t0=$SECONDS

rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)

# --- a private broker and a subscriber per check ----------------------------------------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >"$work/mosquitto.conf"
"$mosquitto" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
broker=$!
sub_pid=
cleanup() {
  [[ -n $sub_pid ]] && kill "$sub_pid" 2>/dev/null || true
  kill "$broker" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || fail "mosquitto did not start: $(cat "$work/mosquitto.log")"

# subscribe TOPIC OUT: records every message on TOPIC into OUT (in the background).
subscribe() {
  mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t "$1" -t "$1/ready" >"$2" 2>&1 &
  sub_pid=$!
  # Subscribed once a probe on its second topic comes back (up to a minute on a busy machine).
  for _ in $(seq 600); do
    mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t "$1/ready" -m __ready__ 2>/dev/null || true
    grep -qx __ready__ "$2" && return 0
    sleep 0.1
  done
  fail "mosquitto_sub did not subscribe to $1 within a minute: $(cat "$2")"
}
# expect_in_order OUT COUNT: OUT holds 0..COUNT-1 in order (re-sent duplicates allowed).
expect_in_order() {
  local out=$1 count=$2
  for _ in $(seq 1200); do
    [[ $({ grep -vx __ready__ "$out" || true; } | awk '!seen[$0]++' | wc -l) -ge $count ]] && break
    sleep 0.1
  done
  kill "$sub_pid" 2>/dev/null || true
  wait "$sub_pid" 2>/dev/null || true
  sub_pid=
  local got
  got=$({ grep -vx __ready__ "$out" || true; } | awk '!seen[$0]++' | tr '\n' ' ')
  local want
  want=$(seq 0 $((count - 1)) | tr '\n' ' ')
  [[ $got == "$want" ]] || fail "expected 0..$((count - 1)) in order, got: ${got:0:300}"
  echo "ok: the subscriber received 0..$((count - 1)) in order"
}

# run_consumer PROGRAM TOPIC [WORKER]: PROGRAM (consumer.cpp or c_example.c) publishes 100
# messages on TOPIC, which arrive in order; consumer.cpp must report WORKER as its worker.
run_consumer() {
  local program=$1 topic=$2 want=${3:-} out
  subscribe "$topic" "$program.out"
  out=$("$program" 127.0.0.1 "$port" "$program-cache" 100 "$topic") || fail "$program exited $?"
  echo "$out"
  if [[ -n $want ]]; then
    [[ $out == "worker $want" ]] || fail "expected the worker $want, got: $out"
    echo "ok: found the worker $want with no ROBUSTMQ_WORKER"
  fi
  expect_in_order "$program.out" 100
}

# expect_linked PROGRAM: PROGRAM loads librobustmq from $libdir (the same directory: on a merged
# /usr the loader may name /lib for /usr/lib).
expect_linked() {
  # Not `ldd | grep -q`: under pipefail, grep leaving at its first match can kill ldd with SIGPIPE.
  local linked lib
  linked=$(ldd "$1")
  lib=$(sed -n 's/^[[:space:]]*librobustmq\.so[^ ]* => \([^ ]*\) .*/\1/p' <<<"$linked")
  [[ -n $lib && $(realpath "$(dirname "$lib")") == $(realpath "$libdir") ]] ||
    fail "$1 is not linked to the installed library in $libdir: $linked"
}

# --- 1. Meson subproject through a .wrap (of the tree as a release tarball would hold it) ----
subproject_consumer() {
  step "packing the source tree"
  version=$(sed -n "s/^  version: '\([^']*\)'.*/\1/p" "$src/meson.build")
  version=${version%%$'\n'*}  # the first match (no `| head`: see expect_linked)
  [[ -n $version ]] || fail "no version in $src/meson.build"
  tarball=$work/robustmq-$version.tar.gz
  if git -C "$src" rev-parse --show-toplevel >/dev/null 2>&1 &&
     [[ $(git -C "$src" rev-parse --show-toplevel) == "$src" ]]; then
    # Tracked and new files, not build trees or unpacked wraps (.gitignore).
    (cd "$src" && git ls-files -z --cached --others --exclude-standard |
       xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' |
       tar --null -T - --transform "s,^,robustmq-$version/," -czf "$tarball")
  else
    (cd "$src/.." && tar --exclude='build*' --exclude='subprojects/*/' \
       --transform "s,^$(basename "$src"),robustmq-$version," -czf "$tarball" "$(basename "$src")")
  fi
  hash=$(sha256sum "$tarball" | cut -d' ' -f1)
  echo "ok: $tarball ($(du -k "$tarball" | cut -f1) KiB)"

  step "1. Meson subproject through subprojects/robustmq.wrap"
  consumer=$work/subproject_consumer
  mkdir -p "$consumer/subprojects/packagecache"
  cp "$here/subproject_consumer/meson.build" "$here/consumer.cpp" "$consumer/"
  cp "$tarball" "$consumer/subprojects/packagecache/"
  printf '%s\n' '[wrap-file]' "directory = robustmq-$version" \
    "source_url = https://downloads.invalid/robustmq-$version.tar.gz" \
    "source_filename = robustmq-$version.tar.gz" "source_hash = $hash" '' \
    '[provide]' 'dependency_names = robustmq' >"$consumer/subprojects/robustmq.wrap"
  meson setup "$work/sub-build" "$consumer" --force-fallback-for=robustmq \
    "-Drobustmq:examples=false" -Dbuildtype=plain >"$work/sub-setup.log" 2>&1 ||
    { tail -40 "$work/sub-setup.log"; fail "meson setup of the subproject consumer"; }
  [[ -f $consumer/subprojects/robustmq-$version/meson.build ]] || fail "the wrap was not unpacked"
  ninja -C "$work/sub-build" >"$work/sub-build.log" 2>&1 ||
    { tail -40 "$work/sub-build.log"; fail "building the subproject consumer"; }
  sub_worker=$work/sub-build/subprojects/robustmq-$version/worker/robustmq-worker
  [[ -x $sub_worker ]] || fail "no worker at $sub_worker"
  # The subproject's tests are not built and nothing of it is installed.
  if ls "$work/sub-build/subprojects/robustmq-$version/test" >/dev/null 2>&1; then
    fail "the subproject built its tests"
  fi
  installed=$(meson introspect --installed "$work/sub-build")
  [[ $installed == "{}" ]] || fail "the subproject installs files: $installed"
  echo "ok: built; no tests built, nothing to install"
  run_consumer "$work/sub-build/consumer" consumption/subproject "$sub_worker"
  echo "(part 1 done at $((SECONDS - t0)) s)"
}

# --- 2. meson install to a prefix (or the system's RobustMQ), pkg-config from a Makefile -------
if [[ -z $installed_worker ]]; then
  subproject_consumer
  step "2. meson install to a prefix, then pkg-config robustmq from a Makefile"
  prefix=$work/prefix
  meson setup "$work/prefix-build" "$src" --prefix="$prefix" --libdir=lib "${nested_opts[@]}" \
    >"$work/prefix-setup.log" 2>&1 || { tail -40 "$work/prefix-setup.log"; fail "meson setup --prefix"; }
  meson install -C "$work/prefix-build" >"$work/prefix-install.log" 2>&1 ||
    { tail -40 "$work/prefix-install.log"; fail "meson install"; }
  for f in include/robustmq/client.hpp include/robustmq/errc.hpp include/robustmq/robustmq.h \
           lib/pkgconfig/robustmq.pc libexec/robustmq-worker; do
    [[ -e $prefix/$f ]] || fail "meson install did not install $f"
  done
  echo "ok: installed headers, library, robustmq.pc and libexec/robustmq-worker"
  libdir=$prefix/lib
  worker=$prefix/libexec/robustmq-worker
  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
  cmake_prefix=(-DCMAKE_PREFIX_PATH="$prefix")
else
  step "2. the RobustMQ installed on the system: pkg-config robustmq from a Makefile"
  pkg-config --exists robustmq || fail "pkg-config does not find robustmq"
  libdir=$(pkg-config --variable=libdir robustmq)
  worker=$installed_worker
  cmake_prefix=()
fi
pkg-config --exists robustmq || fail "pkg-config does not find robustmq"
echo "pkg-config robustmq: $(pkg-config --modversion robustmq): $(pkg-config --cflags --libs robustmq)"
mk=$work/makefile_consumer
mkdir -p "$mk"
cp "$here/makefile_consumer/Makefile" "$here/consumer.cpp" "$src/examples/c_example.c" "$mk/"
make -C "$mk" >"$work/make.log" 2>&1 || { cat "$work/make.log"; fail "make"; }
expect_linked "$mk/consumer"
run_consumer "$mk/consumer" consumption/installed "$worker"
echo "(part 2 done at $((SECONDS - t0)) s)"

# --- 3. a C program ---------------------------------------------------------------------------
step "3. a C program (examples/c_example.c, cc -std=c99 -pedantic) against the installed library"
grep -q -- "-std=c99" "$work/make.log" || fail "c_example was not compiled as C99"
run_consumer "$mk/c_example" consumption/c

# --- 4. CMake: find_package(robustmq) ---------------------------------------------------------
# cmake_consumer DIR PROGRAM LISTS SOURCE TOPIC [WORKER]: builds the CMake project LISTS (a
# CMakeLists.txt) with SOURCE in DIR; PROGRAM links the installed library and delivers.
cmake_consumer() {
  local dir=$1 program=$2
  mkdir -p "$dir"
  cp "$3" "$dir/CMakeLists.txt"
  cp "$4" "$dir/"
  cmake -S "$dir" -B "$dir/build" "${cmake_prefix[@]}" >"$dir.log" 2>&1 ||
    { cat "$dir.log"; fail "cmake configure of $dir"; }
  cmake --build "$dir/build" >>"$dir.log" 2>&1 || { cat "$dir.log"; fail "cmake --build $dir"; }
  expect_linked "$dir/build/$program"
  run_consumer "$dir/build/$program" "$5" "${6:-}"
}
step "4. a CMake project: find_package(robustmq) against the installed library"
[[ -f $libdir/cmake/robustmq/robustmqConfig.cmake ]] || fail "no CMake package installed"
cmake_consumer "$work/cmake_consumer" consumer "$here/cmake_consumer/CMakeLists.txt" \
  "$here/consumer.cpp" consumption/cmake "$worker"
step "4. a C project (no C++ enabled): find_package(robustmq), examples/c_example.c"
cmake_consumer "$work/cmake_c_consumer" c_example "$here/cmake_consumer/c/CMakeLists.txt" \
  "$src/examples/c_example.c" consumption/cmake-c
if grep -q '^CMAKE_CXX_COMPILER:' "$work/cmake_c_consumer/build/CMakeCache.txt"; then
  fail "the C project enabled C++"
fi

echo
if [[ -n $installed_worker ]]; then
  echo "=== consumption: the installed RobustMQ works ($((SECONDS - t0)) s)"
else
  echo "=== consumption: all four ways work ($((SECONDS - t0)) s)"
fi
