#!/usr/bin/env bash
# OCI runtime-tools conformance harness for davit (see README.md).
#
#   run.sh [--runtime PATH] [--name NAME] [--check] [--only P1,P2] [PATH]
#   run.sh --results            # davit + runc + crun, regenerates RESULTS.md
#   run.sh --setup              # install + build only
#
# Installs its Debian packages, fetches and builds the suite into a cache
# outside the repo (${DAVIT_CACHE:-/var/cache/davit}/conformance), runs every
# validation program against the runtime and prints one line per program and a
# closing "N passed, M failed, K skipped" line.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DAVIT_CACHE="${DAVIT_CACHE:-/var/cache/davit}"
CACHE="$DAVIT_CACHE/conformance"

# The suite: Debian's source package (trixie), pinned by version and checksum.
SRC_PKG=golang-github-opencontainers-runtime-tools
SRC_VER=0.9.0.109.ge931285
SRC_DEB_VER=0.9.0.109.ge931285-1
SRC_SUITE=trixie
ORIG="${SRC_PKG}_${SRC_VER}.orig.tar.xz"
ORIG_SHA256=203989a1ea98cf2aaced79155bbda09270b20db19b03376dde91ab12e5e6a0fe
# Bump when the build recipe changes, to force a rebuild of the cached binaries.
RECIPE=1

GOPATH_DIR="$CACHE/gopath"
SUITE="$GOPATH_DIR/src/github.com/opencontainers/runtime-tools"
TAP_DST="$GOPATH_DIR/src/github.com/mndrix/tap-go"
BIN="$CACHE/bin"
LOGS="$CACHE/logs"

PACKAGES=(golang-go golang-github-google-uuid-dev golang-github-mrunalp-fileutils-dev
	golang-github-stretchr-testify-dev golang-github-hashicorp-go-multierror-dev
	golang-github-blang-semver-dev golang-github-opencontainers-specs-dev
	golang-github-opencontainers-selinux-dev golang-github-sirupsen-logrus-dev
	golang-gocapability-dev golang-github-urfave-cli-dev golang-github-xeipuuv-gojsonschema-dev
	golang-golang-x-sys-dev golang-gopkg-yaml.v3-dev
	xz-utils util-linux coreutils tar)

usage() {
	cat <<EOF
usage: $0 [options] [RUNTIME_PATH]
  --runtime PATH   runtime binary (default: davit, $DAVIT_CACHE/target/x86_64-unknown-linux-gnu/release/davit)
  --name NAME      label for logs and output (default: basename of the runtime)
  --check          compare with expected-failures.txt: exit non-zero on an
                   unexpected failure or on an expected failure that passes
  --expected FILE  expected-failures list for --check (default: $HERE/expected-failures.txt)
  --only LIST      comma-separated programs to run (default: all)
  --timeout SECS   per-program timeout (default: 60)
  --hide-cgroup2   mount an empty tmpfs over /sys/fs/cgroup/unified in the
                   test's mount namespace (automatic for crun on a hybrid host)
  --no-hide-cgroup2
  --results        run davit (--runtime or the default path), runc and crun;
                   regenerate $HERE/RESULTS.md
  --report         regenerate RESULTS.md from the last --results logs, no run
  --setup          install and build only
  --list           print the program names and exit
  -h, --help
Logs: $LOGS/NAME/PROGRAM.{out,err}
EOF
}

log() { printf '%s\n' "conformance: $*" >&2; }
die() { log "error: $*"; exit 2; }

# ---------------------------------------------------------------- install ---
install_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# --------------------------------------------------------------- download ---
# apt-get source with a private source list and private list/cache dirs, so
# the host's apt configuration and lists are never touched: nothing to restore.
fetch_orig() {
	local dl="$CACHE/download" apt="$CACHE/download/apt"
	if [[ -f "$dl/$ORIG" ]] && echo "$ORIG_SHA256  $dl/$ORIG" | sha256sum -c --status; then
		return 0
	fi
	log "fetching $ORIG ($SRC_SUITE source package)"
	local src=/etc/apt/sources.list.d/debian.sources uri keyring
	[[ -r $src ]] || die "$src not found: cannot derive the Debian mirror"
	# The first URIs line of a non-security stanza is the main archive.
	uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$src")
	keyring=$(awk '/^Signed-By:/ {print $2; exit}' "$src")
	[[ -n $uri ]] || die "no URIs line in $src"
	rm -rf "$apt"
	mkdir -p "$apt/lists/partial" "$apt/sources.list.d"
	: >"$apt/sources.list"
	{
		echo "Types: deb-src"
		echo "URIs: $uri"
		echo "Suites: $SRC_SUITE"
		echo "Components: main"
		if [[ -n $keyring ]]; then echo "Signed-By: $keyring"; fi
	} >"$apt/sources.list.d/$SRC_SUITE-src.sources"
	local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/sources.list.d"
		-o "Dir::State::Lists=$apt/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
		-o APT::Sandbox::User=root -o Acquire::Languages=none)
	apt-get "${opts[@]}" update -qq >&2
	# The .dsc may 404 on some mirrors; the orig tarball is all we need.
	(cd "$dl" && apt-get "${opts[@]}" source -qq --download-only "$SRC_PKG=$SRC_DEB_VER" >&2) || true
	rm -rf "$apt"
	[[ -f "$dl/$ORIG" ]] || die "download of $ORIG failed"
	echo "$ORIG_SHA256  $dl/$ORIG" | sha256sum -c --status || die "$ORIG: sha256 mismatch"
	rm -f "$SUITE/.unpacked"
}

# ------------------------------------------------------------------ build ---
go_bin() {
	if [[ -x /usr/lib/go/bin/go ]]; then echo /usr/lib/go/bin/go; else command -v go; fi
}

build_stamp() {
	{
		echo "recipe $RECIPE"
		echo "orig $ORIG_SHA256"
		"$(go_bin)" version
		(cd "$HERE/tap-go" && sha256sum ./*.go)
	} | sha256sum | cut -d' ' -f1
}

build_suite() {
	mkdir -p "$CACHE/download"
	fetch_orig
	if [[ ! -f "$SUITE/.unpacked" ]]; then
		log "unpacking $ORIG"
		rm -rf "$SUITE" "$BIN"
		mkdir -p "$SUITE"
		tar -xJf "$CACHE/download/$ORIG" -C "$SUITE" --strip-components=1
		touch "$SUITE/.unpacked"
	fi
	local stamp
	stamp=$(build_stamp)
	if [[ -f "$BIN/.stamp" && "$(cat "$BIN/.stamp")" == "$stamp" && -x "$BIN/runtimetest" ]] &&
		[[ "$(list_programs | wc -l)" -gt 0 ]] && all_built; then
		return 0
	fi
	log "building the validation programs and runtimetest"
	local t0=$SECONDS
	rm -rf "$TAP_DST" "$BIN"
	mkdir -p "$TAP_DST" "$BIN"
	cp "$HERE"/tap-go/*.go "$TAP_DST/"
	(
		cd "$SUITE"
		export GO111MODULE=off GOPATH="$GOPATH_DIR:/usr/share/gocode" GOCACHE="$CACHE/gocache"
		export CGO_ENABLED=0 GOFLAGS='' GOPROXY=off
		"$(go_bin)" build -o "$BIN/" ./validation/...
		"$(go_bin)" build -tags "netgo osusergo" -o "$BIN/runtimetest" ./cmd/runtimetest
	) >&2
	all_built || die "build incomplete"
	echo "$stamp" >"$BIN/.stamp"
	log "built $(list_programs | wc -l) programs in $((SECONDS - t0))s"
}

# Every directory of validation/ holding a main package, except util.
list_programs() {
	local d
	for d in "$SUITE"/validation/*/; do
		d=${d%/}
		d=${d##*/}
		[[ $d == util ]] && continue
		echo "$d"
	done
}

all_built() {
	local p
	for p in $(list_programs); do [[ -x "$BIN/$p" ]] || return 1; done
}

# -------------------------------------------------------------------- run ---
hybrid_cgroups() {
	[[ "$(findmnt -n -o FSTYPE /sys/fs/cgroup/unified 2>/dev/null)" == cgroup2 ]]
}

# The prefix that runs a command in a private mount namespace (some tests leak
# proc/sys/dev mounts otherwise), optionally with cgroup2 hidden for runtimes
# that refuse the hybrid layout (crun 1.8).
ns_prefix() {
	NS_CMD=(unshare -m --propagation private --)
	if ((HIDE_CG2)); then
		NS_CMD+=(/bin/sh -c 'mount -t tmpfs -o mode=755 davit-hide-cgroup2 /sys/fs/cgroup/unified && exec "$@"' sh)
	fi
}
in_ns() { "${NS_CMD[@]}" "$@"; }

# Deletes the containers the suite left behind (bundle under /tmp/ocitest*)
# and the leftover bundle directories.
cleanup_containers() {
	local id bundle
	for id in $(in_ns timeout 10 "$RUNTIME" list -q 2>/dev/null </dev/null || true); do
		bundle=$(in_ns timeout 10 "$RUNTIME" state "$id" 2>/dev/null </dev/null |
			sed -n 's/.*"bundle": *"\([^"]*\)".*/\1/p' | head -1) || true
		[[ $bundle == /tmp/ocitest* ]] || continue
		in_ns timeout 10 "$RUNTIME" delete --force "$id" >/dev/null 2>&1 </dev/null || true
	done
	local d
	for d in /tmp/ocitest*; do
		[[ -e $d ]] || continue
		rm -rf --one-file-system "$d" 2>/dev/null || true
	done
}

# Cgroup directories the suite creates: container ids (UUIDs) and its
# cgrouptest / testdir paths, only those that appeared since the snapshot taken
# at the start of the run. Processes left in them (a container the runtime
# could not delete) are killed, then the directories are removed.
cgroup_dirs() {
	find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | LC_ALL=C sort
}

suite_cgroups() {
	local d
	cgroup_dirs | LC_ALL=C comm -13 "$1" - | LC_ALL=C sort -r | while read -r d; do
		case "${d##*/}" in
		cgrouptest | testdir | [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-*-*-*-*) echo "$d" ;;
		*) [[ $d == */cgrouptest/* || $d == */testdir/* ]] && echo "$d" ;;
		esac
	done
}

cleanup_cgroups() {
	local d pids dirs
	mapfile -t dirs < <(suite_cgroups "$1")
	((${#dirs[@]})) || return 0
	pids=$(cat "${dirs[@]/%//cgroup.procs}" 2>/dev/null | sort -u)
	if [[ -n $pids ]]; then
		log "killing processes left in the suite's cgroups: $(echo $pids)"
		kill -KILL $pids 2>/dev/null || true
		sleep 0.5
	fi
	for d in "${dirs[@]}"; do rmdir "$d" 2>/dev/null || true; done
}

# Reads expected-failures.txt into EXPECTED[prog]=reason.
declare -A EXPECTED=()
load_expected() {
	local line prog reason
	[[ -f $EXPECTED_FILE ]] || die "$EXPECTED_FILE not found"
	while IFS= read -r line || [[ -n $line ]]; do
		[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
		prog=$(awk '{print $1}' <<<"$line")
		reason=""
		[[ $line == *#* ]] && reason="${line#*#}"
		reason=$(sed 's/^[[:space:]]*//;s/[[:space:]]*$//' <<<"$reason")
		[[ -n $reason ]] || die "$EXPECTED_FILE: '$prog' has no '# reason'"
		EXPECTED[$prog]=$reason
	done <"$EXPECTED_FILE"
}

# Runs one program once; sets status, ok, notok, skip, todo, points, planerr, reason in the
# caller's scope (run_suite's locals).
run_once() {
	local p=$1 rc=0 summary
	(cd "$SUITE" && RUNTIME="$RUNTIME" timeout -k 5 "$TIMEOUT" "${NS_CMD[@]}" "$BIN/$p" \
		>"$logdir/$p.out" 2>"$logdir/$p.err" </dev/null) || rc=$?
	summary=$(awk -f "$HERE/tap-summary.awk" "$logdir/$p.out")
	IFS=$'\t' read -r ok notok skip todo points planerr reason <<<"$summary" || true
	status=PASS
	if ((rc == 124 || rc == 137)); then
		status=FAIL reason="timed out after ${TIMEOUT}s${reason:+ ($reason)}"
	elif ((notok > 0)); then
		status=FAIL
		if [[ $reason =~ ^(exit\ status\ [0-9]+)?$ && -s $logdir/$p.err ]]; then
			reason="${reason:+$reason: }$(stderr_reason "$logdir/$p.err")"
		fi
	elif ((rc != 0)); then
		status=FAIL
		reason="exit $rc: $(stderr_reason "$logdir/$p.err")"
	elif [[ $planerr != - ]]; then
		status=FAIL reason=$planerr
	elif ((points > 0 && skip + todo == points)); then
		status=SKIP reason="all $points test points skipped"
	fi
}

# Runs the whole suite against $RUNTIME; writes $LOGS/$NAME/results.tsv.
run_suite() {
	local logdir="$LOGS/$NAME" progs=() p
	rm -rf "$logdir"
	mkdir -p "$logdir"
	if [[ -n $ONLY ]]; then
		IFS=, read -r -a progs <<<"$ONLY"
		for p in "${progs[@]}"; do [[ -x "$BIN/$p" ]] || die "unknown program: $p"; done
	else
		mapfile -t progs < <(list_programs)
	fi
	((CHECK)) && load_expected
	# The programs take runtimetest and rootfs-amd64.tar.gz from their cwd.
	cp "$BIN/runtimetest" "$SUITE/runtimetest"

	local before="$logdir/cgroups.before"
	cgroup_dirs >"$before"
	cleanup_containers

	log "running ${#progs[@]} programs against $RUNTIME ($NAME$( ((HIDE_CG2)) && echo ', cgroup2 hidden'))"
	local npass=0 nfail=0 nskip=0 t_start=$SECONDS
	local status ok notok skip todo points planerr reason flag t0 secs tries racy
	local c_pass=0 c_fail=0 c_skip=0 xfail=0 xpass=0
	printf 'program\tstatus\tok\tnot_ok\tskip\tseconds\treason\n' >"$logdir/results.tsv"
	for p in "${progs[@]}"; do
		t0=$SECONDS
		run_once "$p"
		# A program listed as racy races in the suite itself, for every runtime: a failure is
		# retried a bounded number of times, and says how many tries it took.
		tries=1 racy=""
		if ((CHECK)) && [[ -v EXPECTED[$p] && ${EXPECTED[$p]} == racy* ]]; then
			while [[ $status == FAIL ]] && ((tries < RACY_TRIES)); do
				cleanup_containers
				cleanup_cgroups "$before"
				tries=$((tries + 1))
				run_once "$p"
			done
			if [[ $status == PASS ]]; then
				racy="[racy: passed on try $tries of at most $RACY_TRIES]"
			else
				racy="[racy: FAILED all $tries tries]"
			fi
		fi
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
			if [[ -n $racy ]]; then
				flag=$racy
				if [[ $status == FAIL ]]; then c_fail=$((c_fail + 1)); else c_pass=$((c_pass + 1)); fi
			elif [[ -v EXPECTED[$p] && $status == FAIL ]]; then
				flag="[expected: ${EXPECTED[$p]}]"
				xfail=$((xfail + 1)) c_skip=$((c_skip + 1))
			elif [[ -v EXPECTED[$p] && ${EXPECTED[$p]} == flaky* ]]; then
				flag="[flaky, passed this time]"
				[[ $status == PASS ]] && c_pass=$((c_pass + 1)) || c_skip=$((c_skip + 1))
			elif [[ -v EXPECTED[$p] && $status == PASS ]]; then
				flag="[UNEXPECTED PASS: remove it from expected-failures.txt]"
				xpass=$((xpass + 1)) c_fail=$((c_fail + 1))
			elif [[ $status == FAIL ]]; then
				flag="[UNEXPECTED FAILURE]"
				c_fail=$((c_fail + 1))
			elif [[ $status == PASS ]]; then
				c_pass=$((c_pass + 1))
			else
				c_skip=$((c_skip + 1))
			fi
		fi
		printf '%-4s  %-34s ok=%-3s not-ok=%-2s skip=%-3s %3ss%s%s\n' "$status" "$p" "$ok" "$notok" \
			"$((skip + todo))" "$secs" "${flag:+  $flag}" "${reason:+  -- $reason}"
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$status" "$ok" "$notok" "$((skip + todo))" "$secs" \
			"${reason:-}" >>"$logdir/results.tsv"
		cleanup_containers
		cleanup_cgroups "$before"
	done
	rm -f "$SUITE/runtimetest"
	local total=$((SECONDS - t_start))
	echo "$total" >"$logdir/seconds"
	log "$NAME: ${#progs[@]} programs in ${total}s; logs in $logdir"
	if ((CHECK)); then
		log "check against $(basename "$EXPECTED_FILE"): $xfail expected failures, $((c_fail - xpass)) unexpected failures, $xpass expected failures passed"
		printf '%d passed, %d failed, %d skipped\n' "$c_pass" "$c_fail" "$c_skip"
		((c_fail == 0))
	else
		printf '%d passed, %d failed, %d skipped\n' "$npass" "$nfail" "$nskip"
		((nfail == 0))
	fi
}

# The informative part of a failed program's stderr: the suite's own lines and
# the runtime's error, without Go's "exit status N" and logrus decorations.
stderr_reason() {
	grep -v -e '^[[:space:]]*$' -e '^exit status [0-9]*$' -e '^Refer to: ' "$1" | head -3 |
		sed -e 's/^time="[^"]*" level=[a-z]* msg="\(.*\)"$/\1/' | paste -sd'|' - |
		sed 's/|/: /g' | cut -c1-220
}

resolve_runtime() {
	local r=$1
	if [[ $r != */* ]]; then r=$(command -v "$r" 2>/dev/null) || return 1; fi
	[[ -x $r && -f $r ]] || return 1
	realpath -s "$r"
}

runtime_version() {
	"$1" --version 2>/dev/null | head -1 || true
}

# ---------------------------------------------------------------- results ---
write_results() {
	local out="$HERE/RESULTS.md" names=(davit runc crun) n p cell
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
	os=$(. /etc/os-release && echo "$PRETTY_NAME")
	if hybrid_cgroups; then cg="hybrid (cgroup v1 controllers + cgroup2 at /sys/fs/cgroup/unified)"
	elif [[ "$(findmnt -n -o FSTYPE /sys/fs/cgroup)" == cgroup2 ]]; then cg="cgroup v2 (unified)"
	else cg="cgroup v1"; fi
	{
		echo "# OCI runtime-tools conformance results"
		echo
		echo "Generated by \`testbeds/conformance/run.sh --results\` on $(date -u '+%Y-%m-%d %H:%M UTC') (\`--report\` regenerates it from the last logs)."
		echo
		echo "- Suite: Debian \`$SRC_PKG\` $SRC_DEB_VER (orig sha256 \`${ORIG_SHA256:0:16}…\`), $(list_programs | wc -l) validation programs, per-program timeout ${TIMEOUT}s"
		echo "- Machine: $os, kernel $(uname -r) $(uname -m), $(nproc) × $cpu, $mem RAM"
		echo "- Cgroups: $cg"
		for n in "${names[@]}"; do
			if [[ -n ${have[$n]:-} ]]; then
				echo "- $n: \`${vers[$n]}\` ($(cat "$LOGS/$n/runtime")), run $(cat "$LOGS/$n/date" 2>/dev/null), whole suite in ${secs[$n]}s$( [[ -f $LOGS/$n/hidden ]] && echo '; run with an empty tmpfs over /sys/fs/cgroup/unified (crun refuses hybrid cgroups)')"
			else
				echo "- $n: not run (binary not found)"
			fi
		done
		echo
		echo "Cells: PASS / FAIL / SKIP with ok/not-ok test-point counts. A FAIL of every runtime is usually the"
		echo "machine's or the suite's fault: see the reasons in \`expected-failures.txt\` (last column)."
		echo
		echo "| program | davit | runc | crun | expected failure (davit) |"
		echo "| --- | --- | --- | --- | --- |"
		load_expected_quiet
		for p in $(list_programs); do
			printf '| %s ' "$p"
			for n in "${names[@]}"; do
				if [[ -z ${have[$n]:-} ]]; then cell="—"
				else
					cell=$(awk -F'\t' -v p="$p" '$1 == p {printf "%s %s/%s", $2, $3, $4}' "$LOGS/$n/results.tsv")
					[[ -n $cell ]] || cell="not run"
					[[ $cell == FAIL* ]] && cell="**$cell**"
				fi
				printf '| %s ' "$cell"
			done
			printf '| %s |\n' "$(sed 's/|/\\|/g' <<<"${EXPECTED[$p]:-}")"
		done
		printf '| **total (pass/fail/skip)** '
		for n in "${names[@]}"; do
			if [[ -z ${have[$n]:-} ]]; then printf '| — '; continue; fi
			awk -F'\t' 'NR > 1 {c[$2]++} END {printf "| %d / %d / %d ", c["PASS"], c["FAIL"], c["SKIP"]}' "$LOGS/$n/results.tsv"
		done
		printf '| |\n'
	} >"$out"
	log "wrote $out"
}

load_expected_quiet() {
	[[ -f $EXPECTED_FILE ]] && load_expected || true
}

# ------------------------------------------------------------------- main ---
RUNTIME="" NAME="" CHECK=0 ONLY="" TIMEOUT=60 HIDE_CG2=auto MODE=run
# A program listed as "racy:" in expected-failures.txt is tried at most this many times.
RACY_TRIES=4
EXPECTED_FILE="$HERE/expected-failures.txt"
while (($#)); do
	case $1 in
	--runtime) RUNTIME=${2:?}; shift ;;
	--runtime=*) RUNTIME=${1#*=} ;;
	--name) NAME=${2:?}; shift ;;
	--name=*) NAME=${1#*=} ;;
	--check) CHECK=1 ;;
	--expected) EXPECTED_FILE=${2:?}; shift ;;
	--only) ONLY=${2:?}; shift ;;
	--only=*) ONLY=${1#*=} ;;
	--timeout) TIMEOUT=${2:?}; shift ;;
	--hide-cgroup2) HIDE_CG2=1 ;;
	--no-hide-cgroup2) HIDE_CG2=0 ;;
	--results) MODE=results ;;
	--report) MODE=report ;;
	--setup) MODE=setup ;;
	--list) MODE=list ;;
	-h | --help) usage; exit 0 ;;
	-*) usage >&2; exit 2 ;;
	*) RUNTIME=$1 ;;
	esac
	shift
done

[[ $(id -u) == 0 ]] || die "must run as root (containers, mount namespaces, cgroups)"
[[ "$(uname -m)" == x86_64 ]] || die "the suite ships an amd64 rootfs only"
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
list) list_programs; exit 0 ;;
report) write_results; exit 0 ;;
esac

# Prepares RUNTIME/NAME/HIDE_CG2 for one runtime and runs the suite.
run_one() {
	local want_hide=$HIDE_CG2
	NAME=${NAME:-$(basename "$RUNTIME")}
	if [[ $want_hide == auto ]]; then
		if [[ $(basename "$RUNTIME") == crun* ]] && hybrid_cgroups; then HIDE_CG2=1; else HIDE_CG2=0; fi
	fi
	ns_prefix
	local rc=0
	run_suite || rc=$?
	runtime_version "$RUNTIME" >"$LOGS/$NAME/version"
	date -u '+%Y-%m-%d %H:%M UTC' >"$LOGS/$NAME/date"
	echo "$RUNTIME" >"$LOGS/$NAME/runtime"
	((HIDE_CG2)) && touch "$LOGS/$NAME/hidden"
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
run_one
