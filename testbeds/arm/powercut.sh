#!/usr/bin/env bash
# Power cuts on the arm64 board during release installs (update/README.md, "Power cuts").
# The board boots from an initramfs with a virtio disk (ext4) holding the supervisor's state
# and config directories; each boot runs guest-powercut.sh, which checks what the last cut
# left (nothing pending, every app running from the bundle of the release state.json calls
# current, that release the one before the cut or the one being installed, `davit store
# verify` clean), then installs the next release; the host SIGKILLs qemu at a random moment
# within WINDOW seconds of the install's start (no shutdown: what the guest had not written
# to its disk is lost). TRIALS cuts take TRIALS + 1 boots: the last one only checks.
# Every fourth release has an app that exits at once, and rolls back. Prints a line per trial
# and a table: where each cut fell in the install and which release the board came back on.
# Exit 0 when every check passed.
#   testbeds/arm/powercut.sh [TRIALS [WINDOW [BOARDS]]]
# Defaults: 1000 trials, a 5 s window (an install takes about 3 s on the board), one board.
# BOARDS boards (one vCPU each, a disk of their own) share the TRIALS, in parallel: qemu
# emulates a board on one host core, so 2 on a 2-core host take half the time.
# run.sh runs 3 (DAVIT_POWERCUT_TRIALS). Releases: built here with umoci from the board's
# busybox (images base, a, b, c: a, b and c each add a 256 KiB layer of their own; x is a
# with a command that exits 7).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../env.sh
. "$here/../env.sh"
trials=${1:-1000}
window=${2:-5}
boards=${3:-1}
cache="$DAVIT_CACHE/arm"
work="$cache/powercut"
say() { echo "powercut: $*"; }
die() { say "$*"; exit 1; }
[[ $trials =~ ^[0-9]+$ && $boards =~ ^[1-9][0-9]*$ ]] || die "TRIALS and BOARDS are numbers (BOARDS >= 1)"
command -v umoci >/dev/null || die "no umoci (testbeds/setup.sh installs it)"
command -v mkfs.ext4 >/dev/null || die "no mkfs.ext4 (e2fsprogs)"
"$here/build.sh" arm64 >/dev/null || die "cross build failed"
"$here/kernel.sh" arm64 >/dev/null || die "kernel fetch failed"

rm -rf "$work"
mkdir -p "$work/payload"
cp "$cache/payload/arm64/davit" "$work/payload/davit"
L="$work/payload/images"
image() {
  umoci "$@" >/dev/null 2>"$work/umoci.err" || { cat "$work/umoci.err"; die "umoci $* failed"; }
}
image init --layout "$L"
image new --image "$L:empty"
image unpack --image "$L:empty" "$work/bundle"
mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/data"
cp "$cache/busybox/arm64/bin/busybox" "$work/bundle/rootfs/bin/busybox"
ln -s busybox "$work/bundle/rootfs/bin/sh"
image repack --image "$L:empty" "$work/bundle"
image config --image "$L:empty" --tag base --architecture arm64 --os linux
for tag in a b c; do
  rm -rf "$work/bundle"
  image unpack --image "$L:base" "$work/bundle"
  head -c 262144 /dev/urandom >"$work/bundle/rootfs/blob"
  image repack --image "$L:$tag-layer" "$work/bundle"
  image config --image "$L:$tag-layer" --tag "$tag" --config.entrypoint sh \
    --config.cmd -c --config.cmd "trap 'exit 0' TERM; echo $tag \$TRIAL >> /data/runs; sleep 2147483 & wait" \
    --config.volume /data
done
# A version that exits at once: its release rolls back.
image config --image "$L:a" --tag x --config.cmd -c --config.cmd "exit 7"
rm -rf "$work/bundle"

export DAVIT_BOOT_TIMEOUT=300
export DAVIT_BOOT_MODULES="overlay virtio_mmio virtio_blk ext4 crc32c_generic"
((boards == 1)) || export DAVIT_QEMU_SMP=${DAVIT_QEMU_SMP:-1}
phases=(preparing switching confirming watching rolling-back finished)

# board B N: N cuts (N + 1 boots) on board B, its disk its own. Appends "PHASE old|new" per
# trial to $dir/ended and the installs' measures to $dir/installs; stops at the first failed
# check, its own or (through $work/failed) another board's.
board() {
  local b=$1 n=$2 dir="$work/board$1" t arm delay rc log check which base armed phase lastdelay
  local name=arm64-powercut-$1
  mkdir -p "$dir"
  truncate -s 256M "$dir/disk.img"
  mkfs.ext4 -q -F -L davit "$dir/disk.img" || { say "board $b: mkfs.ext4 failed"; touch "$work/failed"; return 1; }
  for ((t = 0; t <= n; t++)); do
    [[ ! -e $work/failed ]] || return 1
    arm=$((t < n ? 1 : 0))
    echo "ARM=$arm" >"$dir/powercut.env"
    delay=$(awk -v w="$window" -v s="$RANDOM$b$t" 'BEGIN { srand(s); printf "%.2f", rand() * w }')
    rc=0
    DAVIT_BOOT_DISK="$dir/disk.img" DAVIT_BOOT_NAME=$name DAVIT_BOOT_CUT="POWERCUT-ARMED $delay" \
      "$here/boot.sh" arm64 v2 "$work/payload" "$here/guest-powercut.sh" "$here/guest-lib.sh" \
      "$dir/powercut.env" >"$dir/boot.txt" 2>&1 || rc=$?
    log=$(tr -d '\r' <"$cache/logs/boot-$name-latest.log")
    check=$(grep -a -o 'guest: check trial=.*' <<<"$log" | head -n 1)
    if [[ $check != *" ok" ]]; then
      grep -a -e '^guest: ' -e FAILED <<<"$log" | tail -n 40
      tail -n 3 "$dir/boot.txt"
      say "board $b, boot $t: no passing check (boot.sh exit $rc); log: $(readlink -f "$cache/logs/boot-$name-latest.log")"
      touch "$work/failed"
      return 1
    fi
    if ((t > 0)); then
      which=$(sed -E 's/.*\((old|new)\).*/\1/' <<<"$check")
      echo "$phase $which" >>"$dir/ended"
      say "board $b, trial $t: cut ${lastdelay} s into the install, while $phase; back on the $which release: ${check#guest: }"
    fi
    if ((!arm)); then
      ((rc == 0)) && return 0
      say "board $b: the last boot ended with boot.sh exit $rc"
      touch "$work/failed"
      return 1
    fi
    if [[ $rc != 4 ]]; then
      tail -n 5 "$dir/boot.txt"
      say "board $b, boot $t: armed, but the power was not cut (boot.sh exit $rc)"
      touch "$work/failed"
      return 1
    fi
    # Installs that ran to the end (the first boot's, and those the cut came after): busybox
    # time's wall clock and peak RSS of the installer.
    sed -n -e 's/^guest: install:[[:space:]]*Elapsed (wall clock) time (h:mm:ss or m:ss): \([0-9]*\)m \([0-9.]*\)s$/wall \1 \2/p' \
      -e 's/^guest: install:[[:space:]]*Maximum resident set size (kbytes): \([0-9]*\)$/rss \1/p' <<<"$log" >>"$dir/installs"
    base=$(sed -n 's/^guest: idle davit peak RSS: \([0-9]*\) KiB$/\1/p' <<<"$log")
    [[ -z $base ]] || echo "$base" >"$dir/baseline"
    armed=$(sed -n '/POWERCUT-ARMED/,$p' <<<"$log")
    if grep -aq '^guest: installed trial' <<<"$armed"; then phase=finished
    elif grep -aq '^guest: install: release .* failed: ' <<<"$armed"; then phase=rolling-back
    elif grep -aq '^guest: install: watching for' <<<"$armed"; then phase=watching
    elif grep -aq '^guest: install: switched to release' <<<"$armed"; then phase=confirming
    elif grep -aq '^guest: install: stored ' <<<"$armed"; then phase=switching
    else phase=preparing
    fi
    lastdelay=$delay
  done
}

start=$SECONDS
pids=()
for ((b = 1; b <= boards; b++)); do
  board "$b" $((trials / boards + (b <= trials % boards ? 1 : 0))) &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
declare -A ended=()
while read -r p which; do
  ended[$p.$which]=$((${ended[$p.$which]:-0} + 1))
done < <(cat "$work"/board*/ended 2>/dev/null)
cat "$work"/board*/installs >"$work/installs" 2>/dev/null
baseline=$(cat "$work"/board*/baseline 2>/dev/null | head -n 1)
done_trials=0
echo
echo "| power cut while | trials | back on the old release | back on the new release |"
echo "|---|---|---|---|"
for p in "${phases[@]}"; do
  o=${ended[$p.old]:-0} n=${ended[$p.new]:-0}
  done_trials=$((done_trials + o + n))
  echo "| $p | $((o + n)) | $o | $n |"
done
walls=$(awk '$1 == "wall" { printf "%.2f\n", $2 * 60 + $3 }' "$work/installs" 2>/dev/null | sort -n)
if [[ -n $walls ]]; then
  n=$(wc -l <<<"$walls")
  rss=$(awk '$1 == "rss" && $2 > m { m = $2 } END { print m + 0 }' "$work/installs")
  say "$n installs ran to the end on the board: wall time median $(sed -n "$(((n + 1) / 2))p" <<<"$walls") s, installer peak RSS $rss KiB (busybox time -v; \`davit --version\` alone: ${baseline:-?} KiB)"
fi
echo
say "$done_trials of $trials trials checked in $((SECONDS - start)) s on $boards board(s) (window $window s): $( ((failed)) && echo "a check FAILED" || echo "every check passed")"
((failed == 0))
