#!/usr/bin/env bash
# Installs the Debian packages RobustMQ needs to build and test, if any is missing.
# Runs unattended as root (or through sudo); does nothing when everything is installed.
#   scripts/deps.sh [PACKAGE...]   also the packages named (scripts/package-test.sh: debhelper...)
set -euo pipefail

packages=(
  g++ meson ninja-build pkg-config cmake
  libpaho-mqtt-dev libboost-dev libsqlite3-dev libfmt-dev doctest-dev
  libssl-dev                 # the worker sets OpenSSL's minimum TLS version (tls.min_version)
  mosquitto mosquitto-clients openssl
  websockify                 # the WebSocket relay of the ws:// and wss:// tests (testkit)
  clang libclang-rt-14-dev   # fuzzers and sanitizer builds
  clang-tidy                 # the tidy stage (run-clang-tidy)
  procps util-linux          # pgrep/kill, flock
  scdoc mandoc               # the man pages, and their lint (test man)
  "$@"
)

# installed PKG[:ARCH]: whether it is installed for ARCH (without one: for this machine's
# architecture, or as an Architecture: all package). With a foreign architecture's packages
# installed (scripts/arm-test.sh), dpkg-query lists a name once per architecture.
native=$(dpkg --print-architecture)
installed() {
  local want=$native
  if [[ $1 == *:* ]]; then want=${1#*:}; fi
  dpkg-query -W -f='${Status} ${Architecture}\n' "$1" 2>/dev/null |
    grep -xE "install ok installed ($want|all)" >/dev/null  # not -q: reads all (pipefail)
}

missing=()
for pkg in "${packages[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "deps.sh: installing ${missing[*]}" >&2
sudo=()
if ((EUID != 0)); then
  command -v sudo >/dev/null || { echo "deps.sh: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo -n)
fi

# The mosquitto package would start (and enable) a system broker. The tests never use it (each
# starts a private one on a free port), so keep it from starting: invoke-rc.d asks policy-rc.d,
# and 101 means "action not allowed". Only install our policy if there is none, and remove it after.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  own_policy=1
fi
cleanup() { if ((own_policy)); then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update </dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
