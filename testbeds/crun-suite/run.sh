#!/usr/bin/env bash
# crun's own test suite (tests/test_*.py of the Debian source package) against
# davit, runc or crun (see README.md).
#
#   run.sh [--runtime PATH] [--name NAME] [--check] [--only T1,T2] [PATH]
#   run.sh --results            # davit + runc + crun, regenerates RESULTS.md
#   run.sh --setup              # install, fetch and build only
#
# Installs its Debian packages, fetches the pinned crun source package, builds
# the suite's `init` helper into a cache outside the repo
# (${DAVIT_CACHE:-/var/cache/davit}/crun-suite), runs every sub-test on its own
# (RUN_TESTS=NAME, bounded by a timeout) through oci-runtime.sh, and prints one
# line per test and a closing "N passed, M failed, K skipped" line.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DAVIT_CACHE="${DAVIT_CACHE:-/var/cache/davit}"
CACHE="$DAVIT_CACHE/crun-suite"

# The suite: Debian's crun source package (bookworm, the version of the
# installed /usr/bin/crun), pinned by version and the orig tarball's checksum.
SRC_PKG=crun
SRC_VER=1.8.1
SRC_DEB_VER=1.8.1-1+deb12u1
SRC_SUITE=bookworm
ORIG="${SRC_PKG}_${SRC_VER}.orig.tar.xz"
ORIG_SHA256=01b68269d94e5fe11106a9b14c2f144be03b16ec798951f4efa6aa16ba9da29a
# Bump when the build recipe of `init` changes, to force a rebuild.
RECIPE=1

SRC="$CACHE/src/crun-$SRC_VER"
BIN="$CACHE/bin"
LOGS="$CACHE/logs"
WRAPPER="$HERE/oci-runtime.sh"
PYTHON=/usr/bin/python3

PACKAGES=(python3 gcc libc6-dev libseccomp-dev xz-utils util-linux coreutils tar)

usage() {
	cat <<EOF
usage: $0 [options] [RUNTIME_PATH]
  --runtime PATH   runtime binary (default: davit, $DAVIT_CACHE/target/x86_64-unknown-linux-gnu/release/davit)
  --name NAME      label for logs and output (default: basename of the runtime)
  --check          compare with expected.txt: exit non-zero on an unexpected
                   failure or on an expected failure that passes
  --expected FILE  expectations for --check (default: $HERE/expected.txt)
  --only LIST      comma-separated tests (FILE:SUBTEST, see --list) to run
  --timeout SECS   per-test timeout (default: 30)
  --hide-cgroup2   mount an empty tmpfs over /sys/fs/cgroup/unified in the
                   test's mount namespace (automatic for crun on a hybrid host)
  --no-hide-cgroup2
  --results        run davit (--runtime or the default path), runc and crun;
                   regenerate $HERE/RESULTS.md
  --report         regenerate RESULTS.md from the last --results logs, no run
  --setup          install, fetch and build only
  --list           print the test names and exit
  -h, --help
Logs: $LOGS/NAME/TEST.log (the test's TAP output and stderr, and the runtime
command lines the wrapper ran)
EOF
}

log() { printf '%s\n' "crun-suite: $*" >&2; }
die() {
	log "error: $*"
	exit 2
}
# shellcheck source-path=SCRIPTDIR source=../debian.sh
. "$HERE/../debian.sh"

# --------------------------------------------------------------- download ---

# The pinned source package (testbeds/debian.sh: private apt state, every mirror).
fetch_orig() {
	fetch_debian_orig "$SRC_PKG" "$SRC_DEB_VER" "$SRC_SUITE" "$ORIG" "$ORIG_SHA256" "$CACHE/download" "$SRC/.unpacked"
}

# ------------------------------------------------------------------ build ---
init_stamp() {
	{
		echo "recipe $RECIPE"
		echo "orig $ORIG_SHA256"
		gcc --version | head -1
	} | sha256sum | cut -d' ' -f1
}

build_suite() {
	fetch_orig
	if [[ ! -f "$SRC/.unpacked" ]]; then
		log "unpacking $ORIG"
		rm -rf "$SRC" "$BIN"
		mkdir -p "$SRC"
		tar -xJf "$CACHE/download/$ORIG" -C "$SRC" --strip-components=1
		touch "$SRC/.unpacked"
	fi
	local stamp
	stamp=$(init_stamp)
	if [[ -f "$BIN/.stamp" && "$(cat "$BIN/.stamp")" == "$stamp" && -x "$BIN/init" ]]; then
		return 0
	fi
	# tests/init.c, statically linked as crun's tests/Makefile.tests does; its
	# config.h (from crun's configure) only needs HAVE_ERROR_H and HAVE_SECCOMP,
	# given here on the command line (the seccomp-listener check uses the headers only).
	log "building the suite's init helper"
	rm -rf "$BIN"
	mkdir -p "$BIN/include"
	: >"$BIN/include/config.h"
	gcc -static -O2 -I"$BIN/include" -DHAVE_ERROR_H -DHAVE_SECCOMP -o "$BIN/init" "$SRC/tests/init.c" >&2
	# The tests run ./tests/init (check-feature) from the source root.
	cp "$BIN/init" "$SRC/tests/init"
	echo "$stamp" >"$BIN/.stamp"
}

# Every sub-test, as FILE:SUBTEST (FILE without test_ and .py), in file order:
# the keys of each test file's all_tests dictionary.
list_tests() {
	"$PYTHON" - "$SRC/tests" <<'EOF'
import ast, os, sys
d = sys.argv[1]
for f in sorted(os.listdir(d)):
    if not (f.startswith("test_") and f.endswith(".py")):
        continue
    tree = ast.parse(open(os.path.join(d, f)).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "all_tests" for t in node.targets):
            for k in node.value.keys:
                print("%s:%s" % (f[len("test_"):-len(".py")], k.value))
EOF
}

# -------------------------------------------------------------------- run ---

# The prefix that runs a command in a private mount namespace, optionally with
# cgroup2 hidden for runtimes that refuse the hybrid layout (crun 1.8).
ns_prefix() {
	NS_CMD=(unshare -m --propagation private --)
	if ((HIDE_CG2)); then
		# shellcheck disable=SC2016 # expanded by the inner shell
		NS_CMD+=(/bin/sh -c 'mount -t tmpfs -o mode=755 davit-hide-cgroup2 /sys/fs/cgroup/unified && exec "$@"' sh)
	fi
}
in_ns() { "${NS_CMD[@]}" "$@"; }

# Processes a test left behind outside any container: the suite's
# `./tests/init check-feature idmapped-mounts DIR` can leave its child paused in a
# user namespace for good. Only processes whose argv[0] is the suite's init and
# whose arguments name the suite's .testsuite-run-PID directory are killed, by pid.
cleanup_processes() {
	local f pid args=() pids=() root="$SRC/.testsuite-run-"
	[[ -n $SRC && $root == /*/.testsuite-run- ]] || return 0
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		((pid > 1 && pid != $$ && pid != BASHPID)) || continue
		{ mapfile -d '' -t args <"$f"; } 2>/dev/null || continue
		((${#args[@]} >= 2)) || continue
		[[ ${args[0]} == */tests/init ]] || continue
		[[ " ${args[*]:1} " == *" $root"* ]] || continue
		pids+=("$pid")
	done
	((${#pids[@]})) || return 0
	log "killing processes the test left: ${pids[*]}"
	kill -KILL "${pids[@]}" 2>/dev/null || true
	sleep 0.2
}

# Containers a test left behind (state under the suite's .testsuite-run-PID/root
# in the source tree), its bundles and its TMPDIR.
cleanup_containers() {
	local d id
	cleanup_processes
	for d in "$SRC"/.testsuite-run-*; do
		[[ -d $d ]] || continue
		if [[ -d $d/root ]]; then
			for id in $(in_ns timeout 10 "$RUNTIME" --root "$d/root" list -q 2>/dev/null </dev/null || true); do
				in_ns timeout 10 "$RUNTIME" --root "$d/root" delete --force "$id" >/dev/null 2>&1 </dev/null || true
			done
		fi
		rm -rf --one-file-system "$d" 2>/dev/null || true
	done
	if [[ -d $TEST_TMP ]]; then
		rm -rf --one-file-system "$TEST_TMP" 2>/dev/null || true
	fi
}

# Cgroup directories of the suite's containers (ids test-tmpXXXXXXXX, from its
# mkdtemp bundles, and container-PID; davit names them :youki:ID when the config
# has no cgroupsPath) that appeared since
# the snapshot taken at the start of the run: processes left in them (a container
# the runtime could not delete) are killed, then the directories are removed.
cleanup_cgroups() {
	local d pids dirs frozen=/sys/fs/cgroup/freezer/frozen
	# test_delete.py:test_simple_delete (cgroup v1) moves the container's init into
	# a freezer cgroup of its own and freezes it; when delete fails, it stays there.
	if [[ -d $frozen ]] && ! grep -qxF "$frozen" "$1"; then
		echo THAWED >"$frozen/freezer.state" 2>/dev/null || true
		pids=$(cat "$frozen/cgroup.procs" 2>/dev/null) || true
		if [[ -n $pids ]]; then
			log "killing processes left in $frozen: $(paste -sd' ' <<<"$pids")"
			# shellcheck disable=SC2086 # one pid per word
			kill -KILL $pids 2>/dev/null || true
			sleep 0.5
		fi
		rmdir "$frozen" 2>/dev/null || true
	fi
	mapfile -t dirs < <(cgroup_dirs | LC_ALL=C comm -13 "$1" - | grep -E '/(:youki:)?(test-tmp[a-z0-9_]{8}|container-[0-9]+)(/|$)' |
		LC_ALL=C sort -r)
	((${#dirs[@]})) || return 0
	pids=$(cat "${dirs[@]/%//cgroup.procs}" 2>/dev/null | sort -u)
	if [[ -n $pids ]]; then
		log "killing processes left in the suite's cgroups: $(paste -sd' ' <<<"$pids")"
		# shellcheck disable=SC2086 # one pid per word
		kill -KILL $pids 2>/dev/null || true
		sleep 0.5
	fi
	for d in "${dirs[@]}"; do rmdir "$d" 2>/dev/null || true; done
}

# Reads expected.txt into EXPECTED[test]=reason.
declare -A EXPECTED=()
load_expected() {
	local line t reason
	[[ -f $EXPECTED_FILE ]] || die "$EXPECTED_FILE not found"
	while IFS= read -r line || [[ -n $line ]]; do
		[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
		t=$(awk '{print $1}' <<<"$line")
		reason=""
		[[ $line == *#* ]] && reason="${line#*#}"
		reason=$(sed 's/^[[:space:]]*//;s/[[:space:]]*$//' <<<"$reason")
		[[ -n $reason ]] || die "$EXPECTED_FILE: '$t' has no '# reason'"
		EXPECTED[$t]=$reason
	done <"$EXPECTED_FILE"
}

# The informative part of a failed test's output: the last lines that are not
# TAP, de-duplicated, on one line.
fail_reason() {
	sed -E 's/(not )?ok [0-9]+ - [^ ]*( #SKIP)?$//' "$1" | grep -v -e '^[[:space:]]*$' -e '^1\.\.[0-9]' | tail -3 |
		paste -sd'|' - | sed 's/|/: /g' | cut -c1-220
}

# Runs one test; sets status and reason in the caller's scope (run_suite's locals).
run_once() {
	local t=$1 file=${1%%:*} sub=${1#*:} rc=0 out="$logdir/$1.log" tap
	mkdir -p "$TEST_TMP"
	chmod 755 "$TEST_TMP"
	local cmd=(env "OCI_RUNTIME=$WRAPPER" "CRUN_SUITE_RUNTIME=$RUNTIME" "CRUN_SUITE_FLAVOR=$FLAVOR"
		"CRUN_SUITE_TRACE=$out.cmds" "INIT=$BIN/init" "RUN_TESTS=$sub" "TMPDIR=$TEST_TMP" "PYTHONPATH=$PYSHIM"
		PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C
		"${NS_CMD[@]}" "$PYTHON" "tests/test_$file.py")
	: >"$out.cmds"
	if [[ $file == tty ]]; then
		# The tty tests need a terminal on stdout (they skip otherwise): give them one.
		(cd "$SRC" && timeout -k 5 "$TIMEOUT" script -q -e -c "$(printf '%q ' "${cmd[@]}")" /dev/null \
			>"$out" 2>&1 </dev/null) || rc=$?
		sed -i 's/\r$//' "$out"
	else
		(cd "$SRC" && timeout -k 5 "$TIMEOUT" "${cmd[@]}" >"$out" 2>&1 </dev/null) || rc=$?
	fi
	# A test's stderr may lack its final newline, so the TAP line can follow other text.
	tap=$(grep -oE "(not )?ok [0-9]+ - $sub( #SKIP)?\$" "$out" | head -1 || true)
	reason=""
	if ((rc == 124 || rc == 137)); then
		status=FAIL reason="timed out after ${TIMEOUT}s"
	elif [[ $tap == "not ok"* ]]; then
		status=FAIL reason=$(fail_reason "$out")
	elif [[ $tap == ok*"#SKIP"* ]]; then
		status=SKIP reason="skipped by the test"
	elif [[ $tap == ok* ]]; then
		status=PASS
	else
		status=FAIL reason="no TAP result (exit $rc): $(fail_reason "$out")"
	fi
}

# Runs the suite against $RUNTIME; writes $LOGS/$NAME/results.tsv.
run_suite() {
	local logdir="$LOGS/$NAME" tests=() t all
	rm -rf "$logdir"
	mkdir -p "$logdir"
	all=$(list_tests)
	if [[ -n $ONLY ]]; then
		IFS=, read -r -a tests <<<"$ONLY"
		for t in "${tests[@]}"; do grep -qxF -- "$t" <<<"$all" || die "unknown test: $t (see --list)"; done
	else
		mapfile -t tests <<<"$all"
	fi
	((CHECK)) && load_expected
	# tests/test_mounts.py needs python3-libmount, which bookworm lacks: see pyshim/.
	PYSHIM=""
	"$PYTHON" -c 'import libmount' 2>/dev/null || PYSHIM="$HERE/pyshim"
	TEST_TMP=$(mktemp -u /tmp/davit-crun-suite.XXXXXX)

	local before="$logdir/cgroups.before"
	cgroup_dirs >"$before"
	cleanup_containers

	log "running ${#tests[@]} tests against $RUNTIME ($NAME, $FLAVOR options$( ((HIDE_CG2)) && echo ', cgroup2 hidden'))"
	local npass=0 nfail=0 nskip=0 t_start=$SECONDS
	local status reason flag t0 secs
	local c_pass=0 c_fail=0 c_skip=0 xfail=0 xpass=0
	printf 'test\tstatus\tseconds\treason\n' >"$logdir/results.tsv"
	for t in "${tests[@]}"; do
		t0=$SECONDS
		run_once "$t"
		secs=$((SECONDS - t0))
		case $status in
		PASS) npass=$((npass + 1)) ;;
		FAIL) nfail=$((nfail + 1)) ;;
		SKIP) nskip=$((nskip + 1)) ;;
		esac
		# Check mode: an expected failure counts as skipped and an expected
		# failure that passes counts as failed, so "M failed" is non-zero
		# exactly when the check fails.
		flag=""
		if ((CHECK)); then
			if [[ -v EXPECTED[$t] && $status == FAIL ]]; then
				flag="[expected: ${EXPECTED[$t]}]"
				xfail=$((xfail + 1)) c_skip=$((c_skip + 1))
			elif [[ -v EXPECTED[$t] && ${EXPECTED[$t]} == flaky* ]]; then
				flag="[flaky, passed this time]"
				if [[ $status == PASS ]]; then c_pass=$((c_pass + 1)); else c_skip=$((c_skip + 1)); fi
			elif [[ -v EXPECTED[$t] && $status == PASS ]]; then
				flag="[UNEXPECTED PASS: remove it from expected.txt]"
				xpass=$((xpass + 1)) c_fail=$((c_fail + 1))
			elif [[ $status == FAIL ]]; then
				flag="[UNEXPECTED FAILURE]"
				c_fail=$((c_fail + 1))
			elif [[ $status == PASS ]]; then
				c_pass=$((c_pass + 1))
			else
				# A skip of a test listed as an expected failure is fine either way.
				c_skip=$((c_skip + 1))
			fi
		fi
		printf '%-4s  %-48s %3ss%s%s\n' "$status" "$t" "$secs" "${flag:+  $flag}" "${reason:+  -- $reason}"
		printf '%s\t%s\t%s\t%s\n' "$t" "$status" "$secs" "${reason:-}" >>"$logdir/results.tsv"
		cleanup_containers
		cleanup_cgroups "$before"
	done
	local total=$((SECONDS - t_start))
	echo "$total" >"$logdir/seconds"
	log "$NAME: ${#tests[@]} tests in ${total}s; logs in $logdir"
	if ((CHECK)); then
		log "check against $(basename "$EXPECTED_FILE"): $xfail expected failures, $((c_fail - xpass)) unexpected failures, $xpass expected failures passed"
		printf '%d passed, %d failed, %d skipped\n' "$c_pass" "$c_fail" "$c_skip"
		((c_fail == 0))
	else
		printf '%d passed, %d failed, %d skipped\n' "$npass" "$nfail" "$nskip"
		((nfail == 0))
	fi
}

# ---------------------------------------------------------------- results ---
write_results() {
	local out="$HERE/RESULTS.md" names=(davit runc crun) n t cell
	local -A have=() vers=() secs=()
	for n in "${names[@]}"; do
		if [[ -f "$LOGS/$n/results.tsv" && -f "$LOGS/$n/.fresh" ]]; then
			have[$n]=1
			vers[$n]=$(cat "$LOGS/$n/version")
			secs[$n]=$(cat "$LOGS/$n/seconds")
		fi
	done
	local cpu mem os cg
	cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
	mem=$(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
	# shellcheck disable=SC1091
	os=$(. /etc/os-release && echo "$PRETTY_NAME")
	if hybrid_cgroups; then
		cg="hybrid (cgroup v1 controllers + cgroup2 at /sys/fs/cgroup/unified)"
	elif [[ "$(findmnt -n -o FSTYPE /sys/fs/cgroup)" == cgroup2 ]]; then
		cg="cgroup v2 (unified)"
	else cg="cgroup v1"; fi
	load_expected_quiet
	{
		echo "# crun test suite results"
		echo
		echo "Generated by \`testbeds/crun-suite/run.sh --results\` on $(date -u '+%Y-%m-%d %H:%M UTC') (\`--report\` regenerates it from the last logs)."
		echo
		echo "- Suite: Debian \`$SRC_PKG\` $SRC_DEB_VER ($SRC_SUITE; orig sha256 \`${ORIG_SHA256:0:16}…\`), tests/test_*.py, $(list_tests | wc -l) sub-tests, each run on its own with a ${TIMEOUT}s timeout, through \`oci-runtime.sh\`"
		echo "- Machine: $os, kernel $(uname -r) $(uname -m), $(nproc) × $cpu, $mem RAM, pid 1 is \`$(cat /proc/1/comm)\`"
		echo "- Cgroups: $cg"
		for n in "${names[@]}"; do
			if [[ -n ${have[$n]:-} ]]; then
				echo "- $n: \`${vers[$n]}\` ($(cat "$LOGS/$n/runtime")), run $(cat "$LOGS/$n/date" 2>/dev/null), whole suite in ${secs[$n]}s$([[ -f $LOGS/$n/hidden ]] && echo '; run with an empty tmpfs over /sys/fs/cgroup/unified (crun 1.8 refuses hybrid cgroups)')"
			else
				echo "- $n: not run (binary not found)"
			fi
		done
		echo
		echo "Cells: PASS / FAIL / SKIP (SKIP: the test itself returned 77, e.g. a feature the runtime's"
		echo "\`--version\` does not list). The last column is davit's expectation from \`expected.txt\`."
		echo
		echo "| test | davit | runc | crun | expected failure (davit) |"
		echo "| --- | --- | --- | --- | --- |"
		while read -r t; do
			printf '| %s ' "$t"
			for n in "${names[@]}"; do
				if [[ -z ${have[$n]:-} ]]; then
					cell="—"
				else
					cell=$(awk -F'\t' -v t="$t" '$1 == t {print $2}' "$LOGS/$n/results.tsv")
					[[ -n $cell ]] || cell="not run"
					[[ $cell == FAIL ]] && cell="**FAIL**"
				fi
				printf '| %s ' "$cell"
			done
			cell=${EXPECTED[$t]:-}
			printf '| %s |\n' "${cell//|/\\|}"
		done < <(list_tests)
		printf '| **total (pass / fail / skip)** '
		for n in "${names[@]}"; do
			if [[ -z ${have[$n]:-} ]]; then
				printf '| — '
				continue
			fi
			awk -F'\t' 'NR > 1 {c[$2]++} END {printf "| %d / %d / %d ", c["PASS"], c["FAIL"], c["SKIP"]}' "$LOGS/$n/results.tsv"
		done
		printf '| |\n'
	} >"$out"
	log "wrote $out"
}

load_expected_quiet() {
	if [[ -f $EXPECTED_FILE ]]; then load_expected; fi
}

# ------------------------------------------------------------------- main ---
RUNTIME="" NAME="" CHECK=0 ONLY="" TIMEOUT=30 HIDE_CG2=auto MODE=run FLAVOR="" TEST_TMP=""
NS_CMD=() PYSHIM=""
EXPECTED_FILE="$HERE/expected.txt"
while (($#)); do
	case $1 in
	--runtime)
		RUNTIME=${2:?}
		shift
		;;
	--runtime=*) RUNTIME=${1#*=} ;;
	--name)
		NAME=${2:?}
		shift
		;;
	--name=*) NAME=${1#*=} ;;
	--check) CHECK=1 ;;
	--expected)
		EXPECTED_FILE=${2:?}
		shift
		;;
	--only)
		ONLY=${2:?}
		shift
		;;
	--only=*) ONLY=${1#*=} ;;
	--timeout)
		TIMEOUT=${2:?}
		shift
		;;
	--hide-cgroup2) HIDE_CG2=1 ;;
	--no-hide-cgroup2) HIDE_CG2=0 ;;
	--results) MODE=results ;;
	--report) MODE=report ;;
	--setup) MODE=setup ;;
	--list) MODE=list ;;
	-h | --help)
		usage
		exit 0
		;;
	-*)
		usage >&2
		exit 2
		;;
	*) RUNTIME=$1 ;;
	esac
	shift
done

[[ $(id -u) == 0 ]] || die "must run as root (containers, mount namespaces, cgroups)"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -w 900 9 || die "another run holds $CACHE/.lock"

if [[ $MODE == results ]]; then
	install_packages "${PACKAGES[@]}" runc crun
else
	install_packages "${PACKAGES[@]}"
fi
build_suite
case $MODE in
setup) exit 0 ;;
list)
	list_tests
	exit 0
	;;
report)
	write_results
	exit 0
	;;
esac

# Prepares RUNTIME/NAME/HIDE_CG2/FLAVOR for one runtime and runs the suite.
run_one() {
	local want_hide=$HIDE_CG2
	NAME=${NAME:-$(basename "$RUNTIME")}
	case $(basename "$RUNTIME") in
	crun*) FLAVOR=crun ;;
	*) FLAVOR=runc ;;
	esac
	if [[ $want_hide == auto ]]; then
		if [[ $FLAVOR == crun ]] && hybrid_cgroups; then HIDE_CG2=1; else HIDE_CG2=0; fi
	fi
	ns_prefix
	local rc=0
	run_suite || rc=$?
	runtime_version "$RUNTIME" >"$LOGS/$NAME/version"
	date -u '+%Y-%m-%d %H:%M UTC' >"$LOGS/$NAME/date"
	echo "$RUNTIME" >"$LOGS/$NAME/runtime"
	if ((HIDE_CG2)); then touch "$LOGS/$NAME/hidden"; fi
	touch "$LOGS/$NAME/.fresh"
	HIDE_CG2=$want_hide
	return $rc
}

if [[ $MODE == results ]]; then
	((CHECK)) && die "--check and --results do not mix"
	davit_bin=${RUNTIME:-$DAVIT_CACHE/target/x86_64-unknown-linux-gnu/release/davit}
	for n in davit runc crun; do
		rm -f "$LOGS/$n/.fresh"
		case $n in
		davit) r=$davit_bin ;;
		*) r=$n ;;
		esac
		if ! RUNTIME=$(resolve_runtime "$r"); then
			log "$n: binary not found ($r): column left empty"
			continue
		fi
		NAME=$n
		run_one || true
	done
	write_results
	exit 0
fi

want=${RUNTIME:-$DAVIT_CACHE/target/x86_64-unknown-linux-gnu/release/davit}
RUNTIME=$(resolve_runtime "$want") || die "runtime not found or not executable: $want"
t_all=$SECONDS
rc=0
run_one || rc=$?
log "took $((SECONDS - t_all))s in all"
exit $rc
