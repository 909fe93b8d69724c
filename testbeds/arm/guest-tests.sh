# shellcheck shell=sh
# Runs inside a board (busybox sh, as root): davit's integration tests, cross-built, against
# the board's davit, then guest-supervisor.sh (boot.sh copies it and guest-lib.sh beside this
# script). Prints one line per test binary and per supervisor check; exit status 0 only if all
# passed.
export DAVIT_TEST_BIN="$PAYLOAD/davit"
export TMPDIR=/tmp
echo "guest: $(uname -m) $(uname -r), cgroup $CGROUP_MODE, davit $("$DAVIT_TEST_BIN" --version | head -1)"
rc=0
for t in "$PAYLOAD"/tests/*; do
  if "$t" --test-threads=1 -q >"/tmp/$(basename "$t").log" 2>&1; then
    echo "guest: PASS $(basename "$t"): $(grep '^test result' "/tmp/$(basename "$t").log")"
  else
    rc=1
    echo "guest: FAIL $(basename "$t")"
    tail -n 40 "/tmp/$(basename "$t").log"
  fi
done
sup="$(dirname "$0")/guest-supervisor.sh"
if [ ! -f "$sup" ]; then
  rc=1
  echo "guest: FAIL supervisor: $sup missing (run.sh passes it to boot.sh)"
elif ! sh "$sup"; then
  rc=1
fi
exit $rc
