#!/usr/bin/env bash
# The OCI runtime-tools conformance suite on the boards: boots each board (arm64, armhf) with
# cgroup v2 and v1 and runs the validation programs against the board's davit
# (guest-conformance.sh), then judges each boot's console log with the same per-point
# expectations as the host (testbeds/conformance/run.sh --from-guest, expectations.txt) and
# prints one table over the boards.
#
#   conformance.sh [--ci] [--boards "arm64:v1 armhf:v2 ..."] [--only P1,P2]
#
#   (default)  the whole suite (58 programs) on the four boards
#   --ci       only what the x86_64 host cannot run (its cgroup v1 lacks blkio weights,
#              hugetlb, net_cls/net_prio; the memory programs): the eight cgroup programs
#              below, on the cgroup v1 boards (on cgroup v2 the suite has no cgroup reader)
#   --boards   which boots, ARCH:MODE words
#   --only     comma-separated programs
#
# Needs the payload of testbeds/arm/build.sh ($DAVIT_CACHE/arm/payload/ARCH/davit), the kernel
# (kernel.sh) and busybox (toolchain.sh); it builds nothing of davit. The suite is cross-built
# by run.sh --build-arm into $DAVIT_CACHE/conformance/arm/ARCH. Every boot holds the lock file
# $DAVIT_BOOT_LOCK (default /tmp/davit-build.lock, shared with builds on this machine; waits at
# most an hour; empty: no lock, as run.sh, whose own boots take none, calls it). Exit 0 only if
# every board's check passed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
conf=$here/../conformance
# shellcheck source-path=SCRIPTDIR source=../env.sh
. "$here/../env.sh"
arm_cache=$DAVIT_CACHE/arm
boot_lock=${DAVIT_BOOT_LOCK-/tmp/davit-build.lock}
CI_PROGRAMS=linux_cgroups_blkio,linux_cgroups_relative_blkio,linux_cgroups_hugetlb,linux_cgroups_relative_hugetlb,linux_cgroups_network,linux_cgroups_relative_network,linux_cgroups_memory,linux_cgroups_relative_memory

boards="arm64:v2 arm64:v1 armhf:v2 armhf:v1" only=""
while (($#)); do
  case $1 in
    --ci) only=$CI_PROGRAMS boards="arm64:v1 armhf:v1" ;;
    --boards) boards=${2:?}; shift ;;
    --only) only=${2:?}; shift ;;
    -h | --help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "conformance.sh: unknown argument $1" >&2; exit 64 ;;
  esac
  shift
done
say() { echo "arm-conformance: $*"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
racy=$("$conf/run.sh" --racy-list)
declare -A verdict=() secs=() summary=()
order=()
for b in $boards; do
  arch=${b%%:*} mode=${b#*:}
  name=$arch-$mode
  order+=("$name")
  payload=$arm_cache/payload/$arch
  [[ -x $payload/davit ]] || { say "no $payload/davit: run testbeds/arm/build.sh"; verdict[$name]=NORUN; continue; }
  suite=$("$conf/run.sh" --build-arm "$arch" | tail -n 1)
  if [[ -n $only ]]; then tr , '\n' <<<"$only"; else cat "$suite/programs"; fi |
    while read -r p; do
      if grep -qx "$p" <<<"$racy"; then echo "$p 3"; else echo "$p 1"; fi
    done >"$work/conformance.list"
  n=$(wc -l <"$work/conformance.list")
  # Guest time measured 2026-11-30: a program takes 2-15 s under TCG; the list gets 30 s a
  # program, at least 300 s.
  timeout_s=$((n * 30))
  ((timeout_s >= 300)) || timeout_s=300
  t0=$(date +%s)
  rc=0
  lock=()
  if [[ -n $boot_lock ]]; then lock=(flock -o -w 3600 "$boot_lock"); fi
  "${lock[@]}" env DAVIT_BOOT_TIMEOUT="$timeout_s" DAVIT_BOOT_NAME="conformance-$name" \
    "$here/boot.sh" "$arch" "$mode" "$payload" "$here/guest-conformance.sh" \
    "$suite/validation" "$suite/runtimetest" "$suite"/rootfs-*.tar.gz "$conf/facts.sh" \
    "$conf/tap-summary.awk" "$work/conformance.list" >"$arm_cache/logs/run-conformance-$name.txt" 2>&1 || rc=$?
  secs[$name]=$(($(date +%s) - t0))
  log=$arm_cache/logs/boot-conformance-$name-latest.log
  boot_wall=$(sed -n 's/.*test rc=[0-9]*, \([0-9.]*s\) wall.*/\1/p' "$arm_cache/logs/run-conformance-$name.txt")
  guest_time=$(tr -d '\r' <"$log" | sed -n 's/^guest: conformance: ran the list in \(.*\) of guest time$/\1/p')
  secs[$name]="${secs[$name]} s with the lock wait, boot ${boot_wall:-?}, suite ${guest_time:-?} guest time"
  say "$name: boot.sh rc $rc, $n programs, ${secs[$name]}"
  if ((rc != 0)); then
    tail -n 5 "$arm_cache/logs/run-conformance-$name.txt"
    tr -d '\r' <"$log" | grep -a -v -e '^\[ ' -e '^CONF-' | tail -n 40
    verdict[$name]=FAIL summary[$name]="boot.sh rc $rc (no result)"
    continue
  fi
  out=$work/$name
  if CONF_GUEST_OUT=$out CONF_GUEST_LIST=$work/conformance.list "$conf/run.sh" --from-guest "$log" \
    >"$work/$name.txt" 2>&1; then
    verdict[$name]=PASS
  else
    verdict[$name]=FAIL
  fi
  sed "s/^/  $name: /" "$work/$name.txt"
  summary[$name]=$(tail -n 1 "$work/$name.txt")
done

# One table: a program per row, a board per column (status, ok/not-ok, the check's verdict).
echo
printf '%-32s' program
for name in "${order[@]}"; do printf ' %-24s' "$name"; done
echo
programs=$(for name in "${order[@]}"; do
  [[ -f $work/$name/results.tsv ]] && awk -F'\t' 'NR > 1 { print $1 }' "$work/$name/results.tsv"
done | awk '!seen[$0]++')
for p in $programs; do
  printf '%-32s' "$p"
  for name in "${order[@]}"; do
    cell=$( [[ -f $work/$name/results.tsv ]] && awk -F'\t' -v p="$p" '$1 == p {
      c = $2 " " $3 "/" $4
      if ($9 == "unexpected") c = c " UNEXPECTED"
      else if ($2 != "PASS" && $9 == "ok") c = c " expected"
      if ($8 != "1/1" && $8 != "0/1") c = c " " $8
      print c }' "$work/$name/results.tsv")
    printf ' %-24s' "${cell:--}"
  done
  echo
done
echo
fail=0 pass=0
for name in "${order[@]}"; do
  say "${verdict[$name]} $name (${secs[$name]:-0}): ${summary[$name]:-not run}"
  if [[ ${verdict[$name]} == PASS ]]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
say "wall time $(($(date +%s) - start)) s"
echo "$pass passed, $fail failed"
((fail == 0))
