# shellcheck shell=sh
# Runs inside a board (busybox sh, as root): davit's integration tests, cross-built, against
# the board's davit. Prints one line per test binary; exit status 0 only if all passed.
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
exit $rc
