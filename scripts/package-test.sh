#!/usr/bin/env bash
# Builds RobustMQ's Debian packages (debian/) and tests them as a user would get them:
#   1. copies the checkout (tracked and new files, not build trees) to a temporary directory and
#      runs `dpkg-buildpackage -b -us -uc` there: the checkout is left as it was;
#   2. lintian on the .changes: any error (E:) fails;
#   3. `apt-get install ./*.deb` of librobustmq0, librobustmq-dev and robustmq-tools;
#   4. test/consumption/run_consumption.sh --installed: a Makefile consumer through pkg-config,
#      the C example, and CMake projects (C++, and C alone) through find_package(robustmq), each
#      publishing to a private mosquitto with no ROBUSTMQ_WORKER: the library must find the
#      packaged worker, and every message arrive in order;
#   5. robustmq-pub and robustmq-cache --version; man -w finds their pages and robustmq(7), which
#      names /usr/share/doc/robustmq/README.md: it is there;
#   6. purges the three packages.
# Runs unattended as root; not part of scripts/test.sh (it takes several minutes more). Prints
# PASS or FAIL last, and exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(librobustmq0 librobustmq-dev robustmq-tools)
t0=$SECONDS
step() { echo; echo "=== package-test: $* ($((SECONDS - t0)) s)"; }
fail() { echo "FAIL (package-test): $*" >&2; exit 1; }

((EUID == 0)) || fail "run as root: it installs and purges packages"
for pkg in "${packages[@]}"; do
  if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true) == *" installed" ]]; then
    fail "$pkg is installed already: apt-get purge -y ${packages[*]} first"
  fi
done

step "installing what the build needs (scripts/deps.sh)"
scripts/deps.sh build-essential debhelper dpkg-dev lintian man-db

work=$(mktemp -d /tmp/robustmq-package-test.XXXXXX)
installed=0
# purge: removes the packages this script installed (the machine is left as it was found).
purge() {
  ((installed)) || return 0
  installed=0
  apt-get purge -y "${packages[@]}" </dev/null >"$work/purge.log" 2>&1 ||
    { cat "$work/purge.log"; echo "FAIL (package-test): apt-get purge ${packages[*]}" >&2; return 1; }
}
cleanup() {
  purge || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- 1. the packages ------------------------------------------------------------------------
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
meson_version=$(sed -n "s/^  version: '\([^']*\)'.*/\1/p" meson.build)
[[ ${version%%-*} == "$meson_version" ]] ||
  fail "debian/changelog has $version, meson.build $meson_version: add a changelog entry (dch)"
step "1. building robustmq $version in $work (dpkg-buildpackage -b -us -uc)"
tree=$work/robustmq-$version
mkdir -p "$tree"
# Tracked and new files, not build trees or unpacked wraps (.gitignore).
git ls-files -z --cached --others --exclude-standard |
  xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' |
  tar --null -T - -cf - | tar -xf - -C "$tree"
(cd "$tree" && DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-parallel=2} \
   dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1 ||
  { tail -60 "$work/build.log"; fail "dpkg-buildpackage"; }
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
changes=$work/robustmq_${version}_$arch.changes
debs=()
for pkg in "${packages[@]}"; do
  deb=$work/${pkg}_${version}_$arch.deb
  [[ -f $deb ]] || fail "no $deb (built: $(cd "$work" && echo *.deb))"
  debs+=("$deb")
  echo "$(basename "$deb"): $(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $6}' | tr '\n' ' ')"
done

step "2. lintian"
lintian_status=0
lintian --fail-on error --display-info "$changes" >"$work/lintian.log" 2>&1 || lintian_status=$?
cat "$work/lintian.log"
if grep -q '^E: ' "$work/lintian.log" || ((lintian_status != 0)); then
  fail "lintian reports errors"
fi
echo "ok: no lintian errors ($(grep -c '^W: ' "$work/lintian.log" || true) warnings)"

# --- 3. installed -----------------------------------------------------------------------------
step "3. apt-get install ${debs[*]##*/}"
installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y "${debs[@]}" </dev/null >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "apt-get install of the packages"; }
worker=$(dpkg -L librobustmq0 | grep '/robustmq-worker$') || fail "librobustmq0 has no robustmq-worker"
echo "ok: installed; the worker is $worker"

step "4. consuming the installed packages (run_consumption.sh --installed)"
bash test/consumption/run_consumption.sh "$tree" "$work/consumption" --installed "$worker" ||
  fail "consuming the installed packages"

step "5. the tools and man pages"
for tool in robustmq-pub robustmq-cache; do
  said=$("$tool" --version) || fail "$tool --version exited $?"
  echo "$tool --version: $said"
  [[ $said == *"$meson_version"* ]] || fail "$tool --version does not say $meson_version"
done
for page in robustmq-pub robustmq-cache "7 robustmq"; do
  # shellcheck disable=SC2086  # "7 robustmq": section and page
  where=$(man -w $page) || fail "man -w $page finds no page"
  echo "man -w $page: $where"
done
# robustmq(7) sends readers there.
[[ -f /usr/share/doc/robustmq/README.md ]] || fail "no /usr/share/doc/robustmq/README.md"

step "6. apt-get purge ${packages[*]}"
purge || exit 1
echo
echo "PASS (package-test): robustmq $version built, lintian-clean of errors, installed, consumed" \
  "through pkg-config and CMake, purged ($((SECONDS - t0)) s)"
