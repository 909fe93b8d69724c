#!/usr/bin/env bash
# Runs the escape attempts of tests/isolation.rs once per runtime (davit, runc, crun: the same
# tests, the binary given by DAVIT_TEST_BIN) and writes RESULTS.md, a test x runtime table of
# pass/fail built from nextest's JUnit reports, with each failure's message. Exits non-zero if
# any davit test failed or davit's run left no report; a peer's failures are only tabulated.
#
#   testbeds/isolation/run.sh [--out FILE] [--runtimes davit,runc,crun]
#
# Needs root (the tests start real containers), python3, and busybox-static (testbeds/setup.sh).
# Environment: RUNC_BIN (default /usr/sbin/runc), CRUN_BIN (default /usr/bin/crun),
# CARGO_TARGET_DIR (where cargo builds; default target/ in the repository).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$here/RESULTS.md
runtimes=davit,runc,crun
runc_bin=${RUNC_BIN:-/usr/sbin/runc}
crun_bin=${CRUN_BIN:-/usr/bin/crun}
# nextest keeps its store (and so the JUnit report) under the workspace's target/ whatever
# CARGO_TARGET_DIR says.
target=$repo/target
# Shared with every cargo user of the machine: one build or test run at a time.
lock=/tmp/davit-build.lock

usage() { echo "usage: $0 [--out FILE] [--runtimes davit,runc,crun]"; }
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=${2:?}; shift 2 ;;
    --runtimes) runtimes=${2:?}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
log() { echo "[isolation] $*" >&2; }
[ "$(id -u)" = 0 ] || { log "error: must run as root"; exit 1; }
command -v python3 >/dev/null || { log "error: python3 not found"; exit 1; }

work=$(mktemp -d /tmp/davit-isolation.XXXXXX)
trap 'rm -rf "$work"' EXIT

# run_one NAME BIN: the suite against BIN (empty: cargo's own davit); the JUnit report goes to
# $work/NAME.xml, nextest's output to $work/NAME.log.
run_one() {
  local name=$1 bin=$2 rc=0
  log "$name: cargo nextest run --test isolation${bin:+ (DAVIT_TEST_BIN=$bin)}"
  # The report is copied before the lock is let go: the next user of the lock may overwrite it.
  # shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
  flock -o "$lock" bash -c '
    set -u
    repo=$1 target=$2 config=$3 bin=$4 xml=$5 logf=$6
    report=$target/nextest/isolation/isolation-junit.xml
    rm -f "$report"
    cd "$repo" || exit 1
    rc=0
    unset DAVIT_TEST_BIN
    if [ -n "$bin" ]; then export DAVIT_TEST_BIN=$bin; fi
    cargo nextest run --test isolation --tool-config-file "isolation:$config" \
      --profile isolation >"$logf" 2>&1 || rc=$?
    if [ -f "$report" ]; then cp "$report" "$xml"; fi
    exit "$rc"
  ' _ "$repo" "$target" "$here/nextest.toml" "$bin" "$work/$name.xml" "$work/$name.log" || rc=$?
  if [ ! -f "$work/$name.xml" ]; then
    log "$name: no report (exit $rc); the end of nextest's output:"
    tail -n 20 "$work/$name.log" >&2
  fi
  return 0
}

versions=()
IFS=, read -r -a wanted <<<"$runtimes"
for rt in "${wanted[@]}"; do
  case $rt in
    davit) bin="" exe=$target/debug/davit ;;
    runc) bin=$runc_bin exe=$runc_bin ;;
    crun) bin=$crun_bin exe=$crun_bin ;;
    *) log "error: unknown runtime $rt"; exit 2 ;;
  esac
  if [ -n "$bin" ] && [ ! -x "$bin" ]; then
    log "$rt: $bin not found, skipped"
    continue
  fi
  run_one "$rt" "$bin"
  # After the run: cargo has built davit's binary by then.
  versions+=("$rt=$("$exe" --version 2>/dev/null | head -n1 || true)")
done

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$repo" diff --quiet HEAD 2>/dev/null || commit+=" with uncommitted changes"
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  cgroups="cgroup v2"
elif [ -d /sys/fs/cgroup/unified ]; then
  cgroups="cgroup v1/v2 hybrid (v2 controllers: $(tr '\n' ' ' </sys/fs/cgroup/unified/cgroup.controllers | sed 's/ *$//'))"
else
  cgroups="cgroup v1"
fi
# shellcheck source=/dev/null
. /etc/os-release
host="${PRETTY_NAME:-Linux}, kernel $(uname -r), $(nproc) cores, $cgroups"

status=0
python3 - "$work" "$out" "$runtimes" "$commit" "$host" "${versions[@]}" <<'PY' || status=$?
"""Builds the Markdown table from the JUnit reports; exit status 1 if davit failed."""
import datetime, os, re, sys
import xml.etree.ElementTree as ET

work, out, runtimes, commit, host, *versions = sys.argv[1:]
runtimes = runtimes.split(",")
results, notes = {}, []  # (test, runtime) -> None if it passed, else why it failed
for rt in runtimes:
    path = os.path.join(work, rt + ".xml")
    if not os.path.exists(path):
        continue
    for case in ET.parse(path).iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is None:
            results[(case.get("name"), rt)] = None
            continue
        text = "\n".join(e.text or "" for e in case if e.tag in ("system-out", "system-err"))
        m = re.search(r"panicked at [^\n]*\n(.*?)(?:\n\s*stack backtrace:|\nnote: |\Z)", text, re.S)
        why = m.group(1) if m else (failure.get("message") or failure.get("type") or "failed")
        why = " ".join(why.split())
        if len(why) > 300:
            why = why[:297] + "..."
        results[(case.get("name"), rt)] = why.replace("|", "\\|")

tests = sorted({t for t, _ in results})
ran = [rt for rt in runtimes if os.path.exists(os.path.join(work, rt + ".xml"))]
lines = [
    "# Escape attempts: davit, runc and crun",
    "",
    "Generated by `testbeds/isolation/run.sh` on %s from the tests of `tests/isolation.rs` "
    "(davit %s), each run once per runtime. Host: %s."
    % (datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), commit, host),
    "",
    "Runtimes: " + "; ".join("`%s`" % v for v in versions) + ".",
    "",
    "| test | " + " | ".join(ran) + " |",
    "|---|" + "---|" * len(ran),
]
def cell(t, rt):
    if (t, rt) not in results:
        return "-"
    if results[(t, rt)] is None:
        return "pass"
    notes.append(results[(t, rt)])
    return "**FAIL** [%d]" % len(notes)


for t in tests:
    lines.append("| `%s` | " % t + " | ".join(cell(t, rt) for rt in ran) + " |")
missing = [rt for rt in runtimes if rt not in ran]
if missing:
    lines += ["", "No report (the build or the run failed before any test): " + ", ".join(missing) + "."]
if notes:
    lines += ["", "Failures, as each test reported them:", ""]
    lines += ["%d. %s" % (i + 1, n) for i, n in enumerate(notes)]
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
davit_failed = "davit" in runtimes and (
    "davit" not in ran or any(v is not None for (t, rt), v in results.items() if rt == "davit")
)
sys.exit(1 if davit_failed else 0)
PY
log "wrote $out"
exit "$status"
