# shellcheck shell=sh
# Runs inside a board (busybox sh, as root): the OCI runtime-tools validation programs against
# the board's davit (/payload/davit). testbeds/arm/conformance.sh passes, beside this script in
# /: `validation` (every program in one binary, run through a symlink named after the
# program), `runtimetest`, `rootfs-GOARCH.tar.gz`, `facts.sh`, `tap-summary.awk` and
# `conformance.list` ("PROGRAM TRIES" lines). The guest only runs and counts; the host judges
# (testbeds/conformance/run.sh --from-guest LOG, with expectations.txt) from these console lines:
#   CONF-FACT fact                    facts.sh's output (the board's cgroups, capabilities...)
#   CONF-SUM PROG TRY <line>          tap-summary.awk's output for one try
#   CONF-END PROG TRY RC SECS TIMEDOUT
# and prints "guest: PROG try TRY: rc RC, SECS s" lines for people. Exit 0 when every program
# ran (pass or fail: the verdict is the host's), 1 when the setup failed.
D=$(cd "$(dirname "$0")" && pwd)
DAVIT=${PAYLOAD:-/payload}/davit
TIMEOUT=${CONF_TIMEOUT:-120}
S=/tmp/conformance
say() { echo "guest: $*"; }
now() { cut -d. -f1 /proc/uptime; }

mkdir -p "$S/bin" || exit 1
for f in validation runtimetest facts.sh tap-summary.awk conformance.list; do
  [ -f "$D/$f" ] || { say "FAIL conformance: $D/$f missing"; exit 1; }
done
# The programs take runtimetest and rootfs-GOARCH.tar.gz from their working directory.
cp "$D/runtimetest" "$S/runtimetest" && chmod 755 "$S/runtimetest" "$D/validation" || exit 1
for f in "$D"/rootfs-*.tar.gz; do cp "$f" "$S/" || exit 1; done
say "$(uname -m) $(uname -r), cgroup $CGROUP_MODE, davit $("$DAVIT" --version | head -n 1)"
sh "$D/facts.sh" | sed 's/^/CONF-FACT /'

# Containers and bundles a program left behind (bundles under /tmp/ocitest*), then the
# cgroups the suite created (container ids, cgrouptest, testdir), deepest first.
cleanup() {
  for _c_id in $("$DAVIT" list -q 2>/dev/null); do
    case $("$DAVIT" state "$_c_id" 2>/dev/null) in
      *'"bundle": "/tmp/ocitest'*) timeout 20 "$DAVIT" delete --force "$_c_id" >/dev/null 2>&1 ;;
    esac
  done
  rm -rf /tmp/ocitest* 2>/dev/null
  find /sys/fs/cgroup -mindepth 2 -depth -type d \( -name cgrouptest -o -name testdir \
    -o -name '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-*-*-*-*' \) \
    -exec rmdir {} \; 2>/dev/null
  return 0
}

t_all=$(now)
while read -r p tries; do
  [ -n "$p" ] || continue
  ln -sf "$D/validation" "$S/bin/$p"
  t=1
  while [ "$t" -le "${tries:-1}" ]; do
    t0=$(now)
    # Each program in a mount namespace of its own: some leak proc/sys/dev mounts.
    (cd "$S" && RUNTIME=$DAVIT timeout -s KILL "$TIMEOUT" unshare -m "$S/bin/$p" \
      >"$S/$p.out" 2>"$S/$p.err" </dev/null)
    rc=$?
    secs=$(($(now) - t0))
    timedout=0
    if [ "$rc" -ne 0 ] && [ "$secs" -ge "$TIMEOUT" ]; then timedout=1; fi
    awk -f "$D/tap-summary.awk" "$S/$p.out" | sed "s/^/CONF-SUM $p $t /"
    echo "CONF-END $p $t $rc $secs $timedout"
    say "$p try $t: rc $rc, ${secs} s"
    # For people: what failed (the runtime's error, runtimetest's failed points in YAML blocks).
    if [ "$rc" -ne 0 ] || grep -q '^not ok' "$S/$p.out"; then
      grep -v '^[[:space:]]*$' "$S/$p.err" | tail -n 3 | sed 's/^/guest:   /' | cut -c1-300
    fi
    grep -a -e '^ *not ok' -e '^ *error:' -e '^ *stderr:' "$S/$p.out" | head -n 6 | sed 's/^ */guest:   /' | cut -c1-300
    cleanup
    t=$((t + 1))
  done
done <"$D/conformance.list"
say "conformance: ran the list in $(($(now) - t_all)) s of guest time"
exit 0
