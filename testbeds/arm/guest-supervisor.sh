# shellcheck shell=sh
# Runs inside a board (busybox sh, as root; guest-tests.sh runs it last): davit's supervisor
# daemon with three busybox apps made in the guest.
#   a      writes "a start", works 2 s, writes "a done", exits 0
#   b      depends_on a with service_completed_successfully: writes "b start", then waits;
#          on SIGTERM writes "b stop" and exits 0
#   crash  exits 1 at once; restart = "on-failure", backoff 200ms..1s, crash_loop 4 in 1m
# Checks, each wait bounded (60 s; TCG is slow): the order of the lines a and b write into a
# directory bound into both; a's stdout in its log (davit app logs); crash's restarts growing
# to >= 2 and its crash loop ending in `failed`; freeze -> state frozen and the cgroup freezer
# frozen (v1: freezer.state FROZEN, v2: cgroup.events "frozen 1"), thaw -> running, same pid;
# SIGTERM to the daemon -> b stopped, exit 0, no container left (davit list), b's cgroup gone.
# One "guest: PASS supervisor ...:" line per check, or "guest: FAIL supervisor ...:" and exit 1
# at the first failure.
# shellcheck disable=SC2317 # the check functions run through wait_for
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=guest-lib.sh
. "$here/guest-lib.sh"
DAVIT=${DAVIT:-$PAYLOAD/davit}
BUSYBOX=${BUSYBOX:-/bin/busybox}
W=$(mktemp -d /tmp/supervisor.XXXXXX)
CG=/davit-guest-$$
DPID=
t0=$(now)

cleanup() {
  if [ -n "$DPID" ] && alive "$DPID"; then kill -KILL "$DPID"; fi
  for id in $("$DAVIT" --root "$W/root" list -q 2>/dev/null); do
    "$DAVIT" --root "$W/root" delete --force "$id" >/dev/null 2>&1
  done
  rmdir "/sys/fs/cgroup$CG" "/sys/fs/cgroup"/*"$CG" 2>/dev/null
}

fail() {
  say "FAIL supervisor $1: $2"
  [ -n "${ST:-}" ] && say "  last status: $ST"
  [ -f "$W/shared/order" ] && say "  order file: $(tr '\n' '|' <"$W/shared/order")"
  tail -n 30 "$W/daemon.log" 2>/dev/null | sed 's/^/guest:   daemon: /'
  cleanup
  exit 1
}

pass() { say "PASS supervisor $1: $2"; }

# The freezer of app NAME's cgroup: "frozen" or "thawed".
freezer() {
  if [ "$CGROUP_MODE" = v2 ]; then
    if grep -qx 'frozen 1' "/sys/fs/cgroup$CG/$1/cgroup.events"; then echo frozen; else echo thawed; fi
  else
    case $(cat "/sys/fs/cgroup/freezer$CG/$1/freezer.state") in
      FROZEN) echo frozen ;;
      *) echo thawed ;;
    esac
  fi
}

cgroup_dir() {
  if [ "$CGROUP_MODE" = v2 ]; then echo "/sys/fs/cgroup$CG/$1"; else echo "/sys/fs/cgroup/freezer$CG/$1"; fi
}

# --- bundles and app files ----------------------------------------------------------------
make_bundle "$W/bundles/a" "$CG/a" '
echo "a start" >>/shared/order
echo "a: working"
sleep 2
echo "a done" >>/shared/order
echo "a: done"' || fail setup "bundle a"
make_bundle "$W/bundles/b" "$CG/b" '
trap '\''echo "b stop" >>/shared/order; exit 0'\'' TERM
echo "b start" >>/shared/order
while :; do sleep 1 & wait $!; done' || fail setup "bundle b"
make_bundle "$W/bundles/crash" "$CG/crash" '
echo crash >>/shared/crash
exit 1' || fail setup "bundle crash"

write_app a "bundle = \"$W/bundles/a\""
write_app b "bundle = \"$W/bundles/b\"
depends_on = { a = { condition = \"service_completed_successfully\" } }"
write_app crash "bundle = \"$W/bundles/crash\"
restart = \"on-failure\"
backoff = { initial = \"200ms\", max = \"1s\" }
crash_loop = { failures = 4, window = \"1m\" }"

# --- start: a before b ------------------------------------------------------------------------
# shellcheck disable=SC2119 # no extra arguments
start_daemon || fail start "the daemon did not answer on $W/sock"
wait_for 60 "b running" state_is b running || fail order "b never ran"
b_pid=$(field pid)
# "running" comes when b's process has started, maybe before it wrote its line.
b_wrote() { grep -qx 'b start' "$W/shared/order"; }
wait_for 60 "line 'b start'" b_wrote || fail order "b runs but wrote nothing"
order=$(tr '\n' ' ' <"$W/shared/order")
[ "$order" = "a start a done b start " ] || fail order "lines in order: $order (want a start, a done, b start)"
if ! state_is a exited || [ "$(field last_exit)" != "exited 0" ]; then fail order "a is not exited 0"; fi
a_logged() { "$DAVIT" app --socket "$W/sock" logs a 2>/dev/null | grep -q ' a: done$'; }
wait_for 60 "line 'a: done' in a's log" a_logged || fail logs "a's stdout not in davit app logs a"
pass order "a start, a done, b start (b waited for a to exit 0); a's stdout in its log"

# --- crash: restarts with backoff, then its crash loop stops it -------------------------------
restarted() { status crash && [ "$(field restarts)" -ge 2 ] 2>/dev/null; }
wait_for 60 "2 restarts of crash" restarted || fail restart "crash restarted $(field restarts) times"
wait_for 60 "crash failed" state_is crash failed || fail restart "crash's crash loop did not stop it"
restarts=$(field restarts)
reason=$(field reason)
runs=$(wc -l <"$W/shared/crash")
case $reason in *"crash loop"*) ;; *) fail restart "failed for another reason: $reason" ;; esac
[ "$runs" -eq $((restarts + 1)) ] || fail restart "$runs runs for $restarts restarts"
pass restart "crash ran $runs times ($restarts restarts), then failed: $reason"

# --- freeze and thaw b ------------------------------------------------------------------------
"$DAVIT" app --socket "$W/sock" freeze b || fail freeze "davit app freeze b failed"
wait_for 60 "b frozen" state_is b frozen || fail freeze "b not frozen"
[ "$(field pid)" = "$b_pid" ] || fail freeze "pid $b_pid became $(field pid)"
[ "$(freezer b)" = frozen ] || fail freeze "state frozen, but the cgroup freezer of $CG/b is not frozen"
"$DAVIT" app --socket "$W/sock" thaw b || fail freeze "davit app thaw b failed"
wait_for 60 "b running again" state_is b running || fail freeze "b not running after thaw"
[ "$(field pid)" = "$b_pid" ] || fail freeze "thaw restarted b: pid $b_pid became $(field pid)"
[ "$(freezer b)" = thawed ] || fail freeze "running again, but the cgroup freezer of $CG/b is frozen"
pass freeze "state frozen and the $CGROUP_MODE freezer frozen, thawed: running, pid $b_pid"

# --- orderly stop -----------------------------------------------------------------------------
stop_daemon 60 || fail stop "the daemon did not exit within 60 s of SIGTERM"
[ "$DRC" = 0 ] || fail stop "the daemon exited $DRC after SIGTERM"
left=$("$DAVIT" --root "$W/root" list -q) || fail stop "davit list failed"
[ -z "$left" ] || fail stop "containers left: $left"
[ "$(tail -n 1 "$W/shared/order")" = "b stop" ] || fail stop "b did not see its SIGTERM"
! alive "$b_pid" || fail stop "b's process $b_pid still runs"
[ ! -d "$(cgroup_dir b)" ] || fail stop "b's cgroup $(cgroup_dir b) is left"
pass stop "SIGTERM: b stopped by its stop signal, daemon exit 0, no container left ($(($(now) - t0)) s in all)"
cleanup
exit 0
