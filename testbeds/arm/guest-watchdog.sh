# shellcheck shell=sh
# Runs inside a board booted with the softdog module and without qemu's -no-reboot (see
# watchdog.sh, which checks the serial log afterwards): `davit supervise --watchdog-device
# /dev/watchdog --watchdog-timeout 5s` with one app.
#   1. orderly: the daemon arms the watchdog (sysfs state active, timeout 5), SIGTERM -> exit 0,
#      the watchdog disarmed by the magic close (state inactive) and no reboot for the
#      timeout + 3 s after;
#   2. hung: a daemon again, "DAVIT-WATCHDOG-ARMED nonce=... uptime=..." on the console, SIGSTOP
#      to the daemon: the watchdog must reboot the board. If the board still runs 30 s later,
#      "guest: FAIL watchdog reboot" and exit 1.
# By hand (kernel arguments, DAVIT_BOOT_APPEND=...):
#   davit.watchdog=nopet     negative control: the second daemon runs without --watchdog-device;
#                            the board must then not reboot, and the boot must FAIL;
#   davit.watchdog=faststop  the app traps SIGTERM and exits at once. By default it does not
#                            (pid 1 of its pid namespace: the signal is dropped), so the orderly
#                            stop takes its 10 s stop_grace_period, twice the watchdog's
#                            timeout: the daemon must go on petting while it stops its apps.
# shellcheck disable=SC2317 # the check functions run through wait_for
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=guest-lib.sh
. "$here/guest-lib.sh"
DAVIT=${DAVIT:-$PAYLOAD/davit}
BUSYBOX=${BUSYBOX:-/bin/busybox}
W=$(mktemp -d /tmp/watchdog.XXXXXX)
TIMEOUT=5
# After SIGSTOP: the timeout, and plenty for a slow TCG guest to get there.
REBOOT_WINDOW=30
WD=/sys/class/watchdog/watchdog0
DPID=

fail() {
  say "FAIL watchdog $1: $2"
  tail -n 30 "$W/daemon.log" 2>/dev/null | sed 's/^/guest:   daemon: /'
  exit 1
}

wd() { cat "$WD/$1" 2>/dev/null; }
wd_is() { [ "$(wd state)" = "$1" ]; }

say "watchdog: $(uname -m) $(uname -r), davit $("$DAVIT" --version | head -n 1)"
[ -c /dev/watchdog ] || fail setup "no /dev/watchdog (softdog not loaded?)"
[ "$(wd identity)" = "Software Watchdog" ] || fail setup "watchdog0 is \"$(wd identity)\", not softdog"
wd_is inactive || fail setup "watchdog0 is $(wd state) before any daemon ran"

trap=
if grep -qw davit.watchdog=faststop /proc/cmdline; then
  say "watchdog: davit.watchdog=faststop: the app exits at SIGTERM"
  trap='trap "exit 0" TERM'
fi
make_bundle "$W/bundles/idle" "/davit-guest-wd/idle" "
$trap
echo 'idle start' >>/shared/idle
while :; do sleep 1 & wait \$!; done" || fail setup "bundle idle"
write_app idle "bundle = \"$W/bundles/idle\""

# --- 1: orderly stop disarms ---------------------------------------------------------------
start_daemon --watchdog-device /dev/watchdog --watchdog-timeout "${TIMEOUT}s" ||
  fail orderly "the daemon did not answer"
wait_for 60 "idle running" state_is idle running || fail orderly "idle never ran"
wd_is active || fail orderly "the daemon runs, but watchdog0 is $(wd state)"
[ "$(wd timeout)" = "$TIMEOUT" ] || fail orderly "watchdog0's timeout is $(wd timeout), not $TIMEOUT"
say "watchdog: SIGTERM to the daemon at uptime $(cut -d' ' -f1 /proc/uptime)"
stop_daemon 60 || fail orderly "the daemon did not exit within 60 s of SIGTERM"
[ "$DRC" = 0 ] || fail orderly "the daemon exited $DRC after SIGTERM"
wd_is inactive || fail orderly "the daemon exited, but watchdog0 is $(wd state): no magic close"
# An observation window, not a synchronization: a watchdog left armed reboots the board within
# its timeout; this script goes on only if it did not.
quiet_until=$(($(now) + TIMEOUT + 3))
while [ "$(now)" -lt "$quiet_until" ]; do
  wd_is inactive || fail orderly "watchdog0 became $(wd state) after the daemon's exit"
  sleep 0.5
done
say "PASS watchdog orderly: armed (timeout $(wd timeout) s), SIGTERM: exit 0, disarmed, no reboot in $((TIMEOUT + 3)) s"

# --- 2: a hung daemon reboots the board ----------------------------------------------------
if grep -qw davit.watchdog=nopet /proc/cmdline; then
  say "watchdog: NEGATIVE CONTROL (davit.watchdog=nopet): the daemon runs without --watchdog-device"
  # shellcheck disable=SC2119 # no extra arguments
  start_daemon || fail reboot "the daemon did not answer"
else
  start_daemon --watchdog-device /dev/watchdog --watchdog-timeout "${TIMEOUT}s" ||
    fail reboot "the daemon did not answer"
  wd_is active || fail reboot "the daemon runs, but watchdog0 is $(wd state)"
fi
wait_for 60 "idle running" state_is idle running || fail reboot "idle never ran"
echo "DAVIT-WATCHDOG-ARMED nonce=$NONCE uptime=$(cut -d' ' -f1 /proc/uptime) timeout=$TIMEOUT"
kill -STOP "$DPID" || fail reboot "cannot SIGSTOP the daemon (pid $DPID)"
stopped() { [ "$(sed 's/.*) //' "/proc/$DPID/stat" | cut -c1)" = T ]; }
wait_for 10 "stopped daemon" stopped || fail reboot "the daemon (pid $DPID) is not stopped"
say "watchdog: daemon $DPID stopped (SIGSTOP), watchdog0 $(wd state); waiting up to $REBOOT_WINDOW s for the reboot"
# Again a window: the pass is the reboot, seen by watchdog.sh on the console.
give_up=$(($(now) + REBOOT_WINDOW))
while [ "$(now)" -lt "$give_up" ]; do sleep 0.5; done
fail reboot "the board still runs $REBOOT_WINDOW s after SIGSTOP to the daemon (watchdog0 $(wd state), timeout $TIMEOUT s)"
