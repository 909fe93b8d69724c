#!/usr/bin/env bash
# The supervisor's hardware watchdog on a board: one boot (arm64 by default, cgroup v2) with the
# softdog module and without qemu's -no-reboot, running guest-watchdog.sh: the daemon with
# --watchdog-device /dev/watchdog --watchdog-timeout 5s, stopped by SIGTERM (the magic close:
# no reboot), then again, SIGSTOPped: the board must reboot. PASS when, in the serial log, after
# the guest's orderly PASS and its "DAVIT-WATCHDOG-ARMED" marker (printed right before the
# SIGSTOP), softdog reports "Initiating system reboot" within twice the timeout, with no kernel
# panic or oops, and the board comes up again (boot.sh sees the second boot marker and stops
# qemu: exit 3).
#   watchdog.sh [arm64|armhf] [PAYLOAD_DIR]
# Last line: "PASS ..." or "FAIL ..."; exit 0 on PASS. Env: DAVIT_BOOT_APPEND passes on
# (davit.watchdog=nopet, =faststop: see guest-watchdog.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../env.sh
. "$here/../env.sh"
cache=$DAVIT_CACHE/arm
arch=${1:-arm64}
payload=${2:-$cache/payload/$arch}
mode=v2
name=$arch-watchdog
log=$cache/logs/boot-$name-latest.log

out=$cache/logs/run-$name.txt
mkdir -p "$cache/logs"
rm -f "$log"
DAVIT_BOOT_REBOOT=1 DAVIT_BOOT_MODULES=softdog DAVIT_BOOT_NAME=$name \
  DAVIT_BOOT_TIMEOUT=${DAVIT_BOOT_TIMEOUT:-240} \
  "$here/boot.sh" "$arch" "$mode" "$payload" "$here/guest-watchdog.sh" "$here/guest-lib.sh" >"$out" 2>&1
rc=$?
text=$(tr -d '\r' <"$log" 2>/dev/null)
grep -a '^guest: ' <<<"$text" | sed 's/^/  /'
fail() {
  tail -n 1 "$out"
  grep -aE '^(DAVIT-|testbed:)|softdog|Kernel panic|Oops|reboot: ' <<<"$text" | tail -n 20 | sed 's/^/  /'
  echo "FAIL $arch watchdog: $*; log: $(readlink -f "$log")"
  exit 1
}
case $rc in
  3) ;;
  0 | 1) fail "no reboot: the guest's test ended (boot.sh exit $rc)" ;;
  2) fail "no result and no second boot (boot.sh exit 2: crash, hang or timeout)" ;;
  *) fail "boot.sh exit $rc" ;;
esac

nonce=$(grep -aoE 'DAVIT-TESTBED-BOOT nonce=[0-9a-f]+' <<<"$text" | head -n 1 | sed 's/.*nonce=//')
[[ -n $nonce ]] || fail "no boot marker"
# Line numbers, in order: orderly PASS < armed marker < softdog < second boot marker.
line_of() { grep -anE "$1" <<<"$text" | head -n 1 | cut -d: -f1; }
orderly=$(line_of '^guest: PASS watchdog orderly')
armed=$(line_of "^DAVIT-WATCHDOG-ARMED nonce=$nonce ")
fired=$(line_of 'softdog: Initiating system reboot')
second=$(grep -anE "DAVIT-TESTBED-BOOT nonce=$nonce " <<<"$text" | sed -n 2p | cut -d: -f1)
[[ -n $orderly ]] || fail "no orderly PASS line from the guest"
[[ -n $armed && $armed -gt $orderly ]] || fail "no DAVIT-WATCHDOG-ARMED marker after the orderly check"
[[ -n $fired && $fired -gt $armed ]] || fail "the board rebooted, but softdog did not report the reboot after the SIGSTOP"
[[ -n $second && $second -gt $fired ]] || fail "no second boot after softdog's reboot"
if sed -n "${armed},${second}p" <<<"$text" | grep -aqE 'Kernel panic|Internal error: Oops|BUG: '; then
  fail "a kernel panic or oops between the SIGSTOP and the reboot"
fi
# Guest uptimes: the marker's, and the kernel's timestamp on softdog's line.
armed_line=$(sed -n "${armed}p" <<<"$text")
t_armed=$(sed -E 's/.* uptime=([0-9.]+).*/\1/' <<<"$armed_line")
timeout=$(sed -E 's/.* timeout=([0-9]+).*/\1/' <<<"$armed_line")
t_fired=$(sed -n "${fired}p" <<<"$text" | sed -nE 's/^\[ *([0-9.]+)\].*/\1/p')
[[ -n $t_armed && -n $t_fired && -n $timeout ]] || fail "cannot read the uptimes of the SIGSTOP and the reboot"
delay=$(awk -v a="$t_armed" -v b="$t_fired" 'BEGIN { printf "%.1f", b - a }')
awk -v d="$delay" -v t="$timeout" 'BEGIN { exit !(d > 0 && d <= 2 * t) }' ||
  fail "softdog fired ${delay} s after the SIGSTOP (timeout ${timeout} s)"
echo "PASS $arch watchdog: orderly stop disarmed it; SIGSTOP -> softdog reboot after ${delay} s (timeout ${timeout} s) -> second boot; log: $(readlink -f "$log")"
