#!/usr/bin/env bash
# OCI runtime-tools conformance harness for davit (see README.md).
#
#   run.sh [--runtime PATH] [--name NAME] [--check] [--only P1,P2] [PATH]
#   run.sh --results            # davit + runc + crun, regenerates RESULTS.md
#   run.sh --setup              # install + build only
#   run.sh --build-arm ARCH     # cross-build for the boards (testbeds/arm/conformance.sh)
#   run.sh --from-guest LOG     # judge a board's run from its serial log
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
  --check          judge with expectations.txt (per test point, per machine): exit
                   non-zero on an unexpected failure or an expectation that passes
  --expected FILE  expectations for --check (default: $HERE/expectations.txt)
  --only LIST      comma-separated programs to run (default: all)
  --timeout SECS   per-program timeout (default: 60)
  --hide-cgroup2   mount an empty tmpfs over /sys/fs/cgroup/unified in the
                   test's mount namespace (automatic for crun on a hybrid host)
  --no-hide-cgroup2
  --results        run davit (--runtime or the default path), runc and crun;
                   regenerate $HERE/RESULTS.md
  --report         regenerate RESULTS.md from the last --results logs, no run
  --setup          install and build only
  --build-arm ARCH cross-build the suite for a board (arm64, armhf); prints its directory
  --from-guest LOG judge a board's serial log (testbeds/arm/guest-conformance.sh)
  --print-mirror DIR  the Debian archives derived from the apt tree DIR (e.g. /etc/apt), in
                   the order fetching tries them
  --racy-list      the programs with racy:/flaky: expectations
  --list           print the program names and exit
  -h, --help
Logs: $LOGS/NAME/PROGRAM.{out,err}
EOF
}

log() { printf '%s\n' "conformance: $*" >&2; }
die() { log "error: $*"; exit 2; }
# shellcheck source-path=SCRIPTDIR source=../debian.sh
. "$HERE/../debian.sh"

# --------------------------------------------------------------- download ---

# The pinned source package (testbeds/debian.sh: private apt state, every mirror).
fetch_orig() {
	fetch_debian_orig "$SRC_PKG" "$SRC_DEB_VER" "$SRC_SUITE" "$ORIG" "$ORIG_SHA256" "$CACHE/download" "$SUITE/.unpacked"
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
	# shellcheck disable=SC2030 # the Go environment is the subshell's only
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

# build_arm ARCH (arm64 | armhf): the suite for a board, into $CACHE/arm/ARCH/: one
# multi-call binary `validation` (every program, chosen by argv[0] or its first argument: 58
# static Go programs of 3.7 MB each would not fit an initramfs in a 512 MB guest),
# `runtimetest`, the suite's rootfs with the board's busybox (rootfs-GOARCH.tar.gz, the name the
# programs look for) and `programs`. Cross-built with CGO_ENABLED=0; rebuilt when the stamp
# changes.
ARM_RECIPE=2
build_arm() {
	local arch=$1 goarch goarm="" out="$CACHE/arm/$1" src="$CACHE/arm/gopath/src/davitconf" p stamp bb
	case $arch in
	arm64) goarch=arm64 ;;
	armhf) goarch=arm goarm=7 ;;
	*) die "--build-arm: arch must be arm64 or armhf" ;;
	esac
	bb="$DAVIT_CACHE/arm/busybox/$arch/bin/busybox"
	[[ -x $bb ]] || die "$bb missing: run testbeds/arm/toolchain.sh"
	stamp=$({ echo "arm $ARM_RECIPE $arch"; build_stamp; sha256sum "$bb"; } | sha256sum | cut -d' ' -f1)
	if [[ -f $out/.stamp && "$(cat "$out/.stamp")" == "$stamp" ]]; then
		echo "$out"
		return 0
	fi
	log "cross-building the suite for $arch (GOARCH=$goarch${goarm:+ GOARM=$goarm})"
	local t0=$SECONDS
	rm -rf "$src" "$out"
	mkdir -p "$src" "$out"
	{
		echo "// Generated by testbeds/conformance/run.sh --build-arm: every validation program in one binary."
		echo "package main"
		echo
		echo "import ("
		echo '	"fmt"'
		echo '	"os"'
		echo '	"path/filepath"'
		for p in $(list_programs); do echo "	p_$p \"davitconf/p/$p\""; done
		echo ")"
		echo
		echo "func main() {"
		echo "	name := filepath.Base(os.Args[0])"
		echo '	if name == "validation" && len(os.Args) > 1 {'
		echo "		os.Args = os.Args[1:]"
		echo "		name = os.Args[0]"
		echo "	}"
		echo "	switch name {"
		for p in $(list_programs); do echo "	case \"$p\":"; echo "		p_$p.Main()"; done
		echo "	default:"
		echo '		fmt.Fprintln(os.Stderr, "validation: unknown program", name)'
		echo "		os.Exit(2)"
		echo "	}"
		echo "}"
	} >"$src/main.go"
	for p in $(list_programs); do
		mkdir -p "$src/p/$p"
		local f
		for f in "$SUITE/validation/$p"/*.go; do
			[[ $f == *_test.go ]] && continue
			sed -e "s/^package main\$/package p_$p/" -e 's/^func main() {$/func Main() {/' "$f" >"$src/p/$p/${f##*/}"
		done
		grep -q '^func Main() {$' "$src/p/$p"/*.go || die "$p: no 'func main() {' to rename"
	done
	# shellcheck disable=SC2031 # the Go environment is the subshell's only
	(
		export GO111MODULE=off GOPATH="$CACHE/arm/gopath:$GOPATH_DIR:/usr/share/gocode" GOCACHE="$CACHE/gocache"
		export CGO_ENABLED=0 GOFLAGS='' GOPROXY=off GOOS=linux GOARCH=$goarch
		if [[ -n $goarm ]]; then export GOARM=$goarm; fi
		cd "$SUITE"
		"$(go_bin)" build -trimpath -ldflags '-s -w' -o "$out/validation" davitconf
		"$(go_bin)" build -trimpath -ldflags '-s -w' -tags "netgo osusergo" -o "$out/runtimetest" ./cmd/runtimetest
	) >&2
	local root
	root=$(mktemp -d)
	tar -xzf "$SUITE/rootfs-amd64.tar.gz" -C "$root"
	cp "$bb" "$root/bin/busybox"
	# Uncompressed under the .tar.gz name the programs ask for: they run `tar -xf NAME`, and
	# busybox tar (the boards') does not detect gzip by itself.
	tar -cf "$out/rootfs-$goarch.tar.gz" -C "$root" --owner=0 --group=0 .
	rm -rf "$root"
	list_programs >"$out/programs"
	echo "$stamp" >"$out/.stamp"
	log "built $out in $((SECONDS - t0))s: validation $(du -k "$out/validation" | cut -f1) KiB, runtimetest $(du -k "$out/runtimetest" | cut -f1) KiB, rootfs $(du -k "$out/rootfs-$goarch.tar.gz" | cut -f1) KiB"
	echo "$out"
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

# ----------------------------------------------------------- expectations ---
# expectations.txt (see README.md): "program | point | when | reason" lines, read into the
# E_* arrays. FACT[...] holds this machine's facts (facts.sh), KERNEL its MAJ.MIN.
E_PROG=() E_POINT=() E_WHEN=() E_REASON=()
T_SUM=() T_RC=() T_TO=() T_ERR=() TRIES_PASSED=0
declare -A FACT=()
KERNEL=0.0
load_expectations() {
	local line n=0 prog point when reason
	[[ -f $EXPECTED_FILE ]] || die "$EXPECTED_FILE not found"
	E_PROG=() E_POINT=() E_WHEN=() E_REASON=()
	while IFS= read -r line || [[ -n $line ]]; do
		n=$((n + 1))
		[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
		[[ $line == *'|'*'|'*'|'* ]] || die "$EXPECTED_FILE:$n: not 'program | point | when | reason'"
		IFS='|' read -r prog point when reason <<<"$line"
		prog=$(trim "$prog") point=$(trim "$point") when=$(trim "$when") reason=$(trim "$reason")
		[[ -n $prog && -n $point && -n $reason ]] || die "$EXPECTED_FILE:$n: empty program, point or reason"
		[[ $reason =~ ^(machine|suite|davit-bug|racy|flaky): ]] ||
			die "$EXPECTED_FILE:$n: reason must start with machine:, suite:, davit-bug:, racy: or flaky:"
		E_PROG+=("$prog") E_POINT+=("$point") E_WHEN+=("${when:-always}") E_REASON+=("$reason")
	done <"$EXPECTED_FILE"
}
trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; printf '%s' "${s%"${s##*[![:space:]]}"}"; }

# load_facts [FILE]: the facts of facts.sh (or of FILE, one per line: a board's).
load_facts() {
	local f
	FACT=() KERNEL=0.0
	while IFS= read -r f; do
		[[ -n $f ]] || continue
		FACT[$f]=1
		if [[ $f == kernel=* ]]; then KERNEL=${f#kernel=}; fi
	done < <(if (($#)); then cat "$1"; else sh "$HERE/facts.sh"; fi)
}

# ver_ge A B: version A >= B (MAJ.MIN).
ver_ge() {
	local a1=${1%%.*} a2=${1#*.} b1=${2%%.*} b2=${2#*.}
	((a1 > b1 || (a1 == b1 && ${a2%%.*} >= ${b2%%.*})))
}

# cond_holds WHEN: every space-separated term holds. A term is a fact, "!term", "kernel>=X.Y",
# "kernel<X.Y", or alternatives "a,b" (either); "always" always holds.
cond_holds() {
	local term alt ok neg
	for term in $1; do
		[[ $term == always ]] && continue
		ok=0
		IFS=, read -r -a alts <<<"$term"
		for alt in "${alts[@]}"; do
			neg=0
			if [[ $alt == '!'* ]]; then neg=1 alt=${alt#!}; fi
			local hit=0
			case $alt in
			kernel\>=*) ver_ge "$KERNEL" "${alt#kernel>=}" && hit=1 ;;
			kernel\<*) ver_ge "$KERNEL" "${alt#kernel<}" || hit=1 ;;
			*) [[ -n ${FACT[$alt]:-} ]] && hit=1 ;;
			esac
			((hit != neg)) && { ok=1; break; }
		done
		((ok)) || return 1
	done
}

# point_matches POINT KIND NUM TEXT [ERROR]: does expectation point POINT cover the item?
# Items: kind pt (a test point, NUM, its description, the error of its YAML block), prog (a
# failure that is not a test point: exit status, error block, plan, bail out), notests,
# timeout. A point "DESC ~ TEXT" covers DESC only when its error contains TEXT.
point_matches() {
	local point=$1 kind=$2 num=$3 text=$4 error=${5:-}
	if [[ $point == *' ~ '* ]]; then
		[[ $error == *"${point#* ~ }"* ]] || return 1
		point=${point%% ~ *}
	fi
	case $point in
	'*') return 0 ;;
	-) [[ $kind == prog ]] ;;
	error:*) [[ $kind == prog && $text == *"${point#error:}"* ]] ;;
	notests) [[ $kind == notests ]] ;;
	'#'*) [[ $kind == pt && $num == "${point#\#}" ]] ;;
	*) [[ $kind == pt && $text == "$point" ]] ;;
	esac
}

# judge PROG SUMFILE RC TIMEDOUT MODE: the outcome of one try of PROG from its tap-summary
# output, exit status and timeout flag. MODE all: every applicable expectation may excuse a
# failure; strict: racy/flaky ones may not. Sets J_STATUS (PASS FAIL SKIP NOTESTS TIMEOUT),
# J_OK J_NOTOK J_SKIP J_REASON, J_UNEXP (failures no expectation covers), J_STALE (expectations
# whose point ran and passed), J_XREASONS (reasons of the expectations that covered a failure),
# J_RACY (racy or flaky when such an expectation applies to PROG).
judge() {
	local p=$1 sum=$2 rc=$3 timedout=$4 mode=$5
	local ok=0 notok=0 skip=0 todo=0 points=0 planerr=- reason="" k num st text err i
	local -a it_kind=() it_num=() it_text=() it_err=() pt_num=() pt_st=() pt_text=() app=()
	{
		IFS=$'\t' read -r ok notok skip todo points planerr reason || true
		while IFS=$'\t' read -r k num st text err; do
			if [[ $k == pt ]]; then
				pt_num+=("$num") pt_st+=("$st") pt_text+=("$text")
				if [[ $st == notok ]]; then it_kind+=(pt) it_num+=("$num") it_text+=("$text") it_err+=("$err"); fi
			elif [[ $k == prog ]]; then
				it_kind+=(prog) it_num+=(-) it_text+=("$st: $text") it_err+=("")
			fi
		done
	} <"$sum"
	J_OK=$ok J_NOTOK=$notok J_SKIP=$((skip + todo)) J_REASON=$reason
	if ((timedout)); then
		it_kind+=(timeout) it_num+=(-) it_text+=("timed out after ${TIMEOUT}s") it_err+=("")
		J_REASON="timed out after ${TIMEOUT}s${reason:+ ($reason)}"
	elif ((rc != 0)); then
		it_kind+=(prog) it_num+=(-) it_text+=("exit $rc") it_err+=("")
		[[ -n $reason ]] || J_REASON="exit $rc"
	fi
	if [[ $planerr != - ]]; then
		it_kind+=(prog) it_num+=(-) it_text+=("plan: $planerr") it_err+=("")
		[[ -n $J_REASON ]] || J_REASON=$planerr
	fi
	if ((points == 0 && ${#it_kind[@]} == 0)); then
		it_kind+=(notests) it_num+=(-) it_text+=("no test points") it_err+=("")
		J_REASON="0 test points, exit 0: nothing was checked"
	fi
	if ((timedout)); then J_STATUS=TIMEOUT
	elif ((${#it_kind[@]} == 1)) && [[ ${it_kind[0]} == notests ]]; then J_STATUS=NOTESTS
	elif ((${#it_kind[@]})); then J_STATUS=FAIL
	elif ((points > 0 && skip + todo == points)); then J_STATUS=SKIP J_REASON="all $points test points skipped"
	else J_STATUS=PASS
	fi
	if [[ $J_STATUS == FAIL && $J_REASON =~ ^(exit\ [0-9]+)?$ && -n ${ERRFILE:-} && -s $ERRFILE ]]; then
		J_REASON="${J_REASON:+$J_REASON: }$(stderr_reason "$ERRFILE")"
	fi
	# The expectations that apply to PROG here.
	J_RACY=""
	for i in "${!E_PROG[@]}"; do
		# shellcheck disable=SC2053 # the program may be a glob
		[[ $p == ${E_PROG[$i]} ]] || continue
		cond_holds "${E_WHEN[$i]}" || continue
		case ${E_REASON[$i]} in
		racy:*) J_RACY=racy ;;
		flaky:*) [[ -n $J_RACY ]] || J_RACY=flaky ;;
		esac
		[[ $mode == strict && ${E_REASON[$i]} =~ ^(racy|flaky): ]] && continue
		app+=("$i")
	done
	J_UNEXP=() J_STALE=() J_XREASONS=()
	local -A used=() seen=()
	local n e found
	for n in "${!it_kind[@]}"; do
		found=""
		for e in "${app[@]}"; do
			if point_matches "${E_POINT[$e]}" "${it_kind[$n]}" "${it_num[$n]}" "${it_text[$n]}" "${it_err[$n]}"; then
				found=$e
				break
			fi
		done
		if [[ -n $found ]]; then
			used[$found]=1
			[[ -n ${seen[${E_REASON[$found]}]:-} ]] || J_XREASONS+=("${E_REASON[$found]}")
			seen[${E_REASON[$found]}]=1
		elif [[ ${it_kind[$n]} == pt ]]; then
			J_UNEXP+=("#${it_num[$n]} ${it_text[$n]}")
		else
			J_UNEXP+=("${it_text[$n]}")
		fi
	done
	# Stale: an expectation (not racy/flaky) that covered nothing although what it names ran
	# and passed.
	for e in "${app[@]}"; do
		[[ -n ${used[$e]:-} || ${E_REASON[$e]} =~ ^(racy|flaky): ]] && continue
		((timedout)) && continue
		case ${E_POINT[$e]} in
		'*' | - | error:* | notests)
			if [[ $J_STATUS == PASS || $J_STATUS == SKIP ]]; then J_STALE+=("${E_POINT[$e]}"); fi
			;;
		*)
			for n in "${!pt_num[@]}"; do
				if point_matches "${E_POINT[$e]}" pt "${pt_num[$n]}" "${pt_text[$n]}" && [[ ${pt_st[$n]} == ok ]]; then
					J_STALE+=("${E_POINT[$e]}")
					break
				fi
			done
			;;
		esac
	done
}

# -------------------------------------------------------------------- run ---

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
		log "killing processes left in the suite's cgroups: $(tr '\n' ' ' <<<"$pids")"
		# shellcheck disable=SC2086 # a list of pids
		kill -KILL $pids 2>/dev/null || true
		# rmdir fails while a killed process is still exiting: bounded retries below.
	fi
	local tries
	for d in "${dirs[@]}"; do
		for tries in 1 2 3 4 5 6 7 8 9 10; do
			rmdir "$d" 2>/dev/null && break
			[[ -d $d ]] || break
			((tries < 10)) && sleep 0.1
		done
	done
}

# run_once PROG TRY: runs PROG once; its TAP in $logdir/PROG.out (PROG.tryN.out for retries),
# the counts in PROG.sum; sets RC and TIMEDOUT.
run_once() {
	local p=$1 try=$2 base
	base=$logdir/$p
	((try > 1)) && base=$logdir/$p.try$try
	RC=0 TIMEDOUT=0
	(cd "$SUITE" && RUNTIME="$RUNTIME" timeout -k 5 "$TIMEOUT" "${NS_CMD[@]}" "$BIN/$p" \
		>"$base.out" 2>"$base.err" </dev/null) || RC=$?
	((RC == 124 || RC == 137)) && TIMEDOUT=1
	awk -f "$HERE/tap-summary.awk" "$base.out" >"$base.sum"
	SUMFILE=$base.sum ERRFILE=$base.err
}

# Counters of run_suite / report_program.
reset_counts() {
	N_PASS=0 N_FAIL=0 N_SKIP=0 N_NOTESTS=0 C_PASS=0 C_FAIL=0 C_SKIP=0 X_FAIL=0 X_PASS=0
}

# report_program PROG SECS TRIES_PASSED TRIES: prints PROG's line from the judge_* variables
# of its (last) try, updates the counters, appends to results.tsv (when logdir is set).
report_program() {
	local p=$1 secs=$2 k=$3 n=$4 flag="" bad=0 racy=""
	case $J_STATUS in
	PASS) N_PASS=$((N_PASS + 1)) ;;
	SKIP) N_SKIP=$((N_SKIP + 1)) ;;
	NOTESTS) N_NOTESTS=$((N_NOTESTS + 1)) N_FAIL=$((N_FAIL + 1)) ;;
	*) N_FAIL=$((N_FAIL + 1)) ;;
	esac
	if ((CHECK)); then
		if [[ -n $J_RACY ]]; then
			racy="[$J_RACY: passed $k of $n tries]"
			# racy: at least one of the tries must pass; flaky: every try's failures must be
			# covered (judge all), and the pass count is for information.
			if [[ $J_RACY == racy ]] && ((k == 0)); then bad=1; fi
		fi
		if ((${#J_UNEXP[@]})); then
			bad=1
			flag+="[UNEXPECTED FAILURE: $(join_by '; ' "${J_UNEXP[@]}")]"
		fi
		if ((${#J_STALE[@]})); then
			bad=1 X_PASS=$((X_PASS + 1))
			flag+="[UNEXPECTED PASS of '$(join_by "', '" "${J_STALE[@]}")': update expectations.txt]"
		fi
		if [[ -n $racy ]]; then flag="$racy$flag"; fi
		if ((bad)); then
			C_FAIL=$((C_FAIL + 1))
		elif ((${#J_XREASONS[@]})); then
			C_SKIP=$((C_SKIP + 1)) X_FAIL=$((X_FAIL + 1))
			flag+="[expected: $(join_by '; ' "${J_XREASONS[@]}")]"
		elif [[ $J_STATUS == PASS ]]; then
			C_PASS=$((C_PASS + 1))
		else
			C_SKIP=$((C_SKIP + 1))
		fi
	fi
	printf '%-7s %-34s ok=%-3s not-ok=%-2s skip=%-3s %3ss%s%s\n' "$J_STATUS" "$p" "$J_OK" "$J_NOTOK" \
		"$J_SKIP" "$secs" "${flag:+  $flag}" "${J_REASON:+  -- $J_REASON}"
	if [[ -n ${logdir:-} ]]; then
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$J_STATUS" "$J_OK" "$J_NOTOK" "$J_SKIP" "$secs" \
			"${J_REASON:-}" "$k/$n" "$( ((CHECK)) && { ((bad)) && echo unexpected || echo ok; })" >>"$logdir/results.tsv"
	fi
}
join_by() { local sep=$1 out=$2; shift 2; for x in "$@"; do out+="$sep$x"; done; printf '%s' "$out"; }

# summary_line: the closing line (and, with --check, the log line before it); exit status.
summary_line() {
	if ((CHECK)); then
		log "check against $(basename "$EXPECTED_FILE"): $X_FAIL programs with expected failures only, $((C_FAIL - X_PASS)) with unexpected failures, $X_PASS with expectations that passed"
		printf '%d passed, %d failed, %d skipped\n' "$C_PASS" "$C_FAIL" "$C_SKIP"
		((C_FAIL == 0))
	else
		((N_NOTESTS)) && log "$N_NOTESTS of the failed ran no test point (NOTESTS)"
		printf '%d passed, %d failed, %d skipped\n' "$N_PASS" "$N_FAIL" "$N_SKIP"
		((N_FAIL == 0))
	fi
}

# judge_tries PROG N: the verdict over the tries 1..N of PROG (T_SUM, T_RC, T_TO, T_ERR: each
# try's summary file, exit status, timeout flag, stderr file). Sets TRIES_PASSED (tries with
# no failure but those covered by expectations that are not racy/flaky) and the J_* variables
# of the try to show: for a racy program a passing one if any, else a failing one; a flaky
# program's failing try must be covered by its expectations.
judge_tries() {
	local p=$1 n=$2 t shown=1 failing=""
	TRIES_PASSED=0
	for ((t = 1; t <= n; t++)); do
		ERRFILE=${T_ERR[t]:-} judge "$p" "${T_SUM[t]}" "${T_RC[t]}" "${T_TO[t]}" strict
		if ((${#J_UNEXP[@]} == 0)); then
			TRIES_PASSED=$((TRIES_PASSED + 1))
		else
			[[ -n $failing ]] || failing=$t
			ERRFILE=${T_ERR[t]:-} judge "$p" "${T_SUM[t]}" "${T_RC[t]}" "${T_TO[t]}" all
			# A flaky try that fails beyond what is expected decides what is shown.
			if [[ $J_RACY == flaky ]] && ((${#J_UNEXP[@]})); then failing=$t; fi
		fi
	done
	if [[ -n $failing ]] && [[ $J_RACY != racy || $TRIES_PASSED == 0 ]]; then shown=$failing; fi
	if [[ -z $failing ]]; then shown=1; fi
	if [[ $J_RACY == racy && $TRIES_PASSED -gt 0 ]]; then
		for ((t = 1; t <= n; t++)); do
			ERRFILE=${T_ERR[t]:-} judge "$p" "${T_SUM[t]}" "${T_RC[t]}" "${T_TO[t]}" strict
			if ((${#J_UNEXP[@]} == 0)); then shown=$t; break; fi
		done
	fi
	ERRFILE=${T_ERR[shown]:-} judge "$p" "${T_SUM[shown]}" "${T_RC[shown]}" "${T_TO[shown]}" all
	if ((n > 1)); then J_REASON="${J_REASON:+$J_REASON }(try $shown shown)"; fi
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
	load_facts
	sh "$HERE/facts.sh" >"$logdir/facts"
	if ((CHECK)); then load_expectations; else E_PROG=() E_POINT=() E_WHEN=() E_REASON=(); fi
	# The programs take runtimetest and rootfs-amd64.tar.gz from their cwd.
	cp "$BIN/runtimetest" "$SUITE/runtimetest"

	local before="$logdir/cgroups.before"
	cgroup_dirs >"$before"
	cleanup_containers

	log "running ${#progs[@]} programs against $RUNTIME ($NAME$( ((HIDE_CG2)) && echo ', cgroup2 hidden'))"
	local t_start=$SECONDS t0 try k
	T_SUM=() T_RC=() T_TO=() T_ERR=()
	reset_counts
	printf 'program\tstatus\tok\tnot_ok\tskip\tseconds\treason\ttries_passed\tcheck\n' >"$logdir/results.tsv"
	for p in "${progs[@]}"; do
		t0=$SECONDS
		T_SUM=() T_RC=() T_TO=() T_ERR=()
		run_once "$p" 1
		T_SUM[1]=$SUMFILE T_RC[1]=$RC T_TO[1]=$TIMEDOUT T_ERR[1]=$ERRFILE
		judge "$p" "$SUMFILE" "$RC" "$TIMEDOUT" strict
		try=1 k=0
		if ((${#J_UNEXP[@]} == 0)); then k=1; fi
		# racy/flaky (see README.md): at least RACY_MIN tries, and a racy one up to RACY_TRIES
		# until one passes.
		if ((CHECK)) && [[ -n $J_RACY ]]; then
			# (A flaky program's passes are for information: RACY_MIN tries only.)
		local kind=$J_RACY
		while ((try < RACY_MIN)) || { [[ $kind == racy ]] && ((k == 0 && try < RACY_TRIES)); }; do
				cleanup_containers
				cleanup_cgroups "$before"
				try=$((try + 1))
				run_once "$p" "$try"
				T_SUM[try]=$SUMFILE T_RC[try]=$RC T_TO[try]=$TIMEDOUT T_ERR[try]=$ERRFILE
				judge "$p" "$SUMFILE" "$RC" "$TIMEDOUT" strict
				if ((${#J_UNEXP[@]} == 0)); then k=$((k + 1)); fi
			done
		fi
		judge_tries "$p" "$try"
		report_program "$p" $((SECONDS - t0)) "$TRIES_PASSED" "$try"
		cleanup_containers
		cleanup_cgroups "$before"
	done
	rm -f "$SUITE/runtimetest"
	local total=$((SECONDS - t_start))
	echo "$total" >"$logdir/seconds"
	log "$NAME: ${#progs[@]} programs in ${total}s; logs in $logdir"
	summary_line
}

# from_guest LOG: checks a board's run (testbeds/arm/guest-conformance.sh) from its serial
# log: the CONF-FACT, CONF-SUM and CONF-END lines. Same judgement and output as a host run.
from_guest() {
	local log=$1 dir p try rc secs timedout
	# GUEST_TMP: removed at exit (the mode runs once per process, and may exit non-zero
	# from inside this function).
	GUEST_TMP=$(mktemp -d)
	trap 'rm -rf "$GUEST_TMP"' EXIT
	dir=$GUEST_TMP
	tr -d '\r' <"$log" | awk -v d="$dir" '
		/^CONF-FACT / { print $2 > (d "/facts"); next }
		/^CONF-SUM / { sub(/^CONF-SUM /, ""); p = $1 "." $2; sub(/^[^ ]+ [^ ]+ /, ""); print >> (d "/" p ".sum"); next }
		/^CONF-END / { print $2, $3, $4, $5, $6 >> (d "/ends"); next }
	'
	[[ -s $dir/facts && -s $dir/ends ]] || { log "$log: no CONF- lines (the guest did not run the suite)"; return 2; }
	load_facts "$dir/facts"
	load_expectations
	reset_counts
	# CONF_GUEST_OUT: a directory for results.tsv and facts (testbeds/arm/conformance.sh's table).
	if [[ -n ${CONF_GUEST_OUT:-} ]]; then
		mkdir -p "$CONF_GUEST_OUT"
		cp "$dir/facts" "$CONF_GUEST_OUT/facts"
		printf 'program\tstatus\tok\tnot_ok\tskip\tseconds\treason\ttries_passed\tcheck\n' >"$CONF_GUEST_OUT/results.tsv"
	fi
	local logdir=${CONF_GUEST_OUT:-} n
	local -A tries=() seconds=()
	local -a order=()
	while read -r p try rc secs timedout; do
		[[ -n ${tries[$p]:-} ]] || order+=("$p")
		tries[$p]=$try
		seconds[$p]=$((${seconds[$p]:-0} + secs))
		[[ -f $dir/$p.$try.sum ]] || : >"$dir/$p.$try.sum"
		echo "$rc $timedout" >"$dir/$p.$try.rc"
	done <"$dir/ends"
	for p in "${order[@]}"; do
		n=${tries[$p]}
		T_SUM=() T_RC=() T_TO=() T_ERR=()
		for ((try = 1; try <= n; try++)); do
			T_SUM[try]=$dir/$p.$try.sum
			if [[ -f $dir/$p.$try.rc ]]; then
				read -r "T_RC[$try]" "T_TO[$try]" <"$dir/$p.$try.rc"
			else
				T_RC[try]=255 T_TO[try]=0
				: >"${T_SUM[try]}"
			fi
		done
		judge_tries "$p" "$n"
		report_program "$p" "${seconds[$p]}" "$TRIES_PASSED" "$n"
	done
	# CONF_GUEST_LIST: the list the guest was given ("PROGRAM TRIES" lines); a program of it
	# with no CONF-END line (the guest died or timed out) is a failure.
	if [[ -n ${CONF_GUEST_LIST:-} ]]; then
		while read -r p _; do
			[[ -n $p && -z ${tries[$p]:-} ]] || continue
			J_STATUS=FAIL J_OK=0 J_NOTOK=0 J_SKIP=0 J_REASON="did not run: no result on the console"
			J_RACY="" J_UNEXP=("did not run") J_STALE=() J_XREASONS=()
			report_program "$p" 0 0 0
		done <"$CONF_GUEST_LIST"
	fi
	summary_line
}

# The informative part of a failed program's stderr: the suite's own lines and
# the runtime's error, without Go's "exit status N" and logrus decorations.
stderr_reason() {
	grep -v -e '^[[:space:]]*$' -e '^exit status [0-9]*$' -e '^Refer to: ' "$1" | head -3 |
		sed -e 's/^time="[^"]*" level=[a-z]* msg="\(.*\)"$/\1/' | paste -sd'|' - |
		sed 's/|/: /g' | cut -c1-220
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
		echo "Cells: PASS / FAIL / SKIP / NOTESTS (0 test points, exit 0: nothing checked) / TIMEOUT with ok/not-ok"
		echo "test-point counts. davit runs with \`--check\`: its cell adds the verdict against"
		echo "\`expectations.txt\` (*expected*, **UNEXPECTED**) and, for racy/flaky programs, how many tries"
		echo "passed. The last column lists the expectations that apply to davit on this machine (point: reason)."
		echo
		echo "| program | davit | runc | crun | expectations here (davit) |"
		echo "| --- | --- | --- | --- | --- |"
		load_facts
		if [[ -f $EXPECTED_FILE ]]; then load_expectations; fi
		local i exp
		for p in $(list_programs); do
			printf '| %s ' "$p"
			for n in "${names[@]}"; do
				if [[ -z ${have[$n]:-} ]]; then cell="—"
				else
					cell=$(awk -F'\t' -v p="$p" '$1 == p {
						c = $2 " " $3 "/" $4
						if ($2 != "PASS") c = "**" c "**"
						if ($9 == "ok" && $2 != "PASS") c = c " *expected*"
						if ($9 == "unexpected") c = c " **UNEXPECTED**"
						if ($8 != "" && $8 != "1/1" && $8 != "0/1") c = c " (passed " $8 " tries)"
						printf "%s", c }' "$LOGS/$n/results.tsv")
					[[ -n $cell ]] || cell="not run"
				fi
				printf '| %s ' "$cell"
			done
			exp=""
			for i in "${!E_PROG[@]}"; do
				# shellcheck disable=SC2053 # the program may be a glob
				[[ $p == ${E_PROG[$i]} ]] || continue
		cond_holds "${E_WHEN[$i]}" || continue
				exp+="${exp:+<br>}\`${E_POINT[$i]}\`: ${E_REASON[$i]}"
			done
			printf '| %s |\n' "${exp//|/\\|}"
		done
		printf '| **total (pass/fail/skip/notests)** '
		for n in "${names[@]}"; do
			if [[ -z ${have[$n]:-} ]]; then printf '| — '; continue; fi
			awk -F'\t' 'NR > 1 {c[$2]++} END {printf "| %d / %d / %d / %d ", c["PASS"], c["FAIL"] + c["TIMEOUT"], c["SKIP"], c["NOTESTS"]}' "$LOGS/$n/results.tsv"
		done
		printf '| |\n'
		echo
		echo "Facts of this machine (\`facts.sh\`) that expectations test: \`$(grep -v '^cgfile:' "$LOGS/davit/facts" 2>/dev/null | grep -v '^cap:' | paste -sd' ' -)\`,"
		echo "capabilities missing from the bounding set: \`$(comm -23 <(printf 'cap:%s\n' chown dac_override fowner kill setgid setuid setpcap net_admin net_raw ipc_lock sys_admin sys_chroot sys_ptrace sys_resource mknod audit_write setfcap | sort) <(sort "$LOGS/davit/facts" 2>/dev/null) | paste -sd' ' -)\`."
	} >"$out"
	log "wrote $out"
}

# ------------------------------------------------------------------- main ---
RUNTIME="" NAME="" CHECK=0 ONLY="" TIMEOUT=60 HIDE_CG2=auto MODE=run
# A program with a racy: or flaky: expectation runs at least RACY_MIN times and, until one
# try passes, at most RACY_TRIES times.
RACY_MIN=3 RACY_TRIES=8
EXPECTED_FILE="$HERE/expectations.txt"
GUEST_LOG="" MIRROR_DIR="" ARM_ARCH=""
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
	--from-guest) MODE=guest GUEST_LOG=${2:?}; CHECK=1; shift ;;
	--print-mirror) MODE=mirror MIRROR_DIR=${2:?}; shift ;;
	--build-arm) MODE=build-arm ARM_ARCH=${2:?}; shift ;;
	--racy-list) MODE=racy ;;
	--report) MODE=report ;;
	--setup) MODE=setup ;;
	--list) MODE=list ;;
	-h | --help) usage; exit 0 ;;
	-*) usage >&2; exit 2 ;;
	*) RUNTIME=$1 ;;
	esac
	shift
done

# Modes that read files only.
case $MODE in
mirror) debian_mirrors "$MIRROR_DIR"; exit 0 ;;
racy)
	load_expectations
	for i in "${!E_PROG[@]}"; do
		if [[ ${E_REASON[$i]} =~ ^(racy|flaky): ]]; then echo "${E_PROG[$i]}"; fi
	done | sort -u
	exit 0
	;;
guest)
	from_guest "$GUEST_LOG"
	exit
	;;
esac

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
build-arm) build_arm "$ARM_ARCH"; exit 0 ;;
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
	# davit with its expectations (the verdict column), runc and crun plainly.
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
		if [[ $n == davit ]]; then CHECK=1; else CHECK=0; fi
		run_one || true
	done
	write_results
	exit 0
fi

want=${RUNTIME:-$DAVIT_CACHE/target/x86_64-unknown-linux-gnu/release/davit}
RUNTIME=$(resolve_runtime "$want") || die "runtime not found or not executable: $want"
run_one
