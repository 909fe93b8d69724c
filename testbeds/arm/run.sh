#!/usr/bin/env bash
# The boards, end to end: cross-build (build.sh), then boot each arch with cgroup v2 and with
# cgroup v1 and run davit's integration tests and its supervisor daemon inside (guest-tests.sh,
# guest-supervisor.sh), then one more arm64 boot for the daemon's hardware watchdog
# (watchdog.sh: softdog, SIGSTOP, reboot), then the conformance programs this host cannot run
# on the cgroup v1 boards (conformance.sh --ci, two boots), then power cuts during release
# installs on the arm64 board (powercut.sh, DAVIT_POWERCUT_TRIALS cuts, default 3). Closes with
# "N passed, M failed" over the seven steps; exits non-zero unless all passed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../env.sh
. "$here/../env.sh"
cache="$DAVIT_CACHE/arm"
boots=7
start=$(date +%s)
"$here/build.sh" || { echo "arm: cross build failed"; echo "0 passed, $boots failed"; exit 1; }
"$here/kernel.sh" >/dev/null || { echo "arm: kernel fetch failed"; echo "0 passed, $boots failed"; exit 1; }
echo "arm: build and kernel $(( $(date +%s) - start )) s"
mkdir -p "$cache/logs"
pass=0 fail=0
# A board's timeout guards against a hung guest, it is no deadline: under TCG armhf runs the
# suite in about 2.4 times arm64's time, and on a slower host it went past boot.sh's 300 s
# with 8 of its 12 test files still to run.
for arch in arm64 armhf; do
  for mode in v2 v1; do
    t0=$(date +%s)
    if DAVIT_BOOT_TIMEOUT=${DAVIT_BOOT_TIMEOUT:-900} "$here/boot.sh" "$arch" "$mode" "$cache/payload/$arch" "$here/guest-tests.sh" \
        "$here/guest-supervisor.sh" "$here/guest-lib.sh" >"$cache/logs/run-$arch-$mode.txt" 2>&1; then
      pass=$((pass + 1)); verdict=PASS
    else
      fail=$((fail + 1)); verdict=FAIL
    fi
    tr -d '\r' <"$cache/logs/boot-$arch-$mode-latest.log" | grep -a '^guest: ' | sed 's/^/  /' || true
    echo "arm: $verdict $arch cgroup $mode ($(( $(date +%s) - t0 )) s)"
    [ $verdict = PASS ] || { tail -n 5 "$cache/logs/run-$arch-$mode.txt"
      tr -d '\r' <"$cache/logs/boot-$arch-$mode-latest.log" | grep -a -v '^\[ ' | tail -n 60; }
  done
done
# The watchdog on one board: arm64, which boots in half the time of armhf under TCG (what is
# tested is the daemon's event loop and the kernel's watchdog core, not the arch).
t0=$(date +%s)
if "$here/watchdog.sh" arm64; then
  pass=$((pass + 1)); verdict=PASS
else
  fail=$((fail + 1)); verdict=FAIL
fi
echo "arm: $verdict arm64 watchdog ($(( $(date +%s) - t0 )) s)"
t0=$(date +%s)
if DAVIT_BOOT_LOCK='' "$here/conformance.sh" --ci >"$cache/logs/run-conformance-ci.txt" 2>&1; then
  pass=$((pass + 1)); verdict=PASS
else
  fail=$((fail + 1)); verdict=FAIL
fi
grep -e '^arm-conformance: ' -e 'UNEXPECTED' "$cache/logs/run-conformance-ci.txt" | sed 's/^/  /' || true
echo "arm: $verdict conformance cgroup programs, arm64 + armhf cgroup v1 ($(( $(date +%s) - t0 )) s)"
t0=$(date +%s)
if "$here/powercut.sh" "${DAVIT_POWERCUT_TRIALS:-3}" >"$cache/logs/run-powercut.txt" 2>&1; then
  pass=$((pass + 1)); verdict=PASS
else
  fail=$((fail + 1)); verdict=FAIL
fi
grep -e '^powercut: ' -e '^|' "$cache/logs/run-powercut.txt" | sed 's/^/  /' || true
echo "arm: $verdict arm64 power cuts during installs ($(( $(date +%s) - t0 )) s)"
echo "arm: testbed wall time $(( $(date +%s) - start )) s"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
