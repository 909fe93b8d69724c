#!/usr/bin/env bash
# The boards, end to end: cross-build (build.sh), then boot each arch with cgroup v2 and with
# cgroup v1 and run davit's integration tests inside (guest-tests.sh). Closes with
# "N passed, M failed" over the four boots; exits non-zero unless all passed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../env.sh
. "$here/../env.sh"
cache="$DAVIT_CACHE/arm"
start=$(date +%s)
"$here/build.sh" || { echo "arm: cross build failed"; echo "0 passed, 4 failed"; exit 1; }
"$here/kernel.sh" >/dev/null || { echo "arm: kernel fetch failed"; echo "0 passed, 4 failed"; exit 1; }
mkdir -p "$cache/logs"
pass=0 fail=0
for arch in arm64 armhf; do
  for mode in v2 v1; do
    t0=$(date +%s)
    if "$here/boot.sh" "$arch" "$mode" "$cache/payload/$arch" "$here/guest-tests.sh" >"$cache/logs/run-$arch-$mode.txt" 2>&1; then
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
echo "arm: testbed wall time $(( $(date +%s) - start )) s"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
