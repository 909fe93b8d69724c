#!/usr/bin/env bash
# Runs inside the private mount namespace that run.sh starts (unshare --mount): times the
# container lifecycle of davit, crun and runc twice, with hyperfine (one invocation, all
# commands) and with a round-robin loop (roundrobin.py) as a cross-check.
# Needs BENCH_WORK (bundles), BENCH_DAVIT, BENCH_RUNS, BENCH_WARMUP, BENCH_ROUNDS, BENCH_COLD_SLEEP.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${BENCH_WORK:?} davit=${BENCH_DAVIT:?}

# Hide the cgroup2 mount of a hybrid layout (crun: "cgroups in hybrid mode not supported").
unified=/sys/fs/cgroup/unified
if [ "$(stat -f -c %T "$unified" 2>/dev/null)" = cgroup2fs ] && [ -e /sys/fs/cgroup/pids/cgroup.procs ]; then
  mount -t tmpfs -o size=4k,mode=755 bench-hide-unified "$unified"
  echo "cgroup layout seen by the runtimes: v1 only ($unified hidden by an empty tmpfs)" \
    >"$work/layout-seen"
else
  echo "cgroup layout seen by the runtimes: the host's (nothing hidden)" >"$work/layout-seen"
fi

# A dummy cgroup: a write to its cgroup.procs just before a run makes that run "warm".
# On cgroup v1 the first cgroup.procs write after ~100 ms without one costs the kernel ~11-15 ms
# (cgroup_threadgroup_rwsem waits for an RCU grace period), later ones ~0.1 ms.
# The hierarchy the runtimes use: a v1 controller's where v1 is in use, else the cgroup2 mount.
# Taking the first cgroup mount listed could pick the hybrid layout's cgroup2 mount, hidden
# under a tmpfs above: the write would go to the tmpfs and warm nothing.
cg_mount=""
for fstype in cgroup cgroup2; do
  while read -r _ m t _; do
    [ "$t" = "$fstype" ] || continue
    case $(stat -f -c %T "$m" 2>/dev/null) in cgroupfs | cgroup2fs) cg_mount=$m && break 2 ;; esac
  done </proc/self/mounts
done
[ -n "$cg_mount" ] || { echo "bench: no cgroup hierarchy to warm" >&2; exit 1; }
warm_cg="$cg_mount/davit-bench-warm"
mkdir -p "$warm_cg"
warm="echo \$\$ > $warm_cg/cgroup.procs"
cold="sleep $BENCH_COLD_SLEEP"
export BENCH_WARM_CG="$warm_cg"

declare -A bin=([davit]="$davit" [crun]="$(command -v crun)" [runc]="$(command -v runc)")
runtimes=(davit crun runc)
id=bench
leftovers=""
for rt in "${runtimes[@]}"; do
  mkdir -p "/run/davit-bench/$rt"
  leftovers+="${bin[$rt]} --root /run/davit-bench/$rt delete --force $id >/dev/null 2>&1; "
done
leftovers+="true"

cleanup() {
  sh -c "$leftovers"
  rmdir "$warm_cg" 2>/dev/null || true
  for d in /sys/fs/cgroup/*/bench /sys/fs/cgroup/bench; do
    if [ -d "$d" ]; then find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
  done
  rm -rf /run/davit-bench
}
trap cleanup EXIT
trap 'exit 130' INT TERM
sh -c "$leftovers"

# One hyperfine invocation, 12 commands: {davit, crun, runc} x {create;start;delete, run;delete}
# x {warm, cold}. hyperfine runs each command's runs back to back, so the warm/cold state is set
# by the per-command --prepare, not by whatever ran before. `delete --force` everywhere: start of
# /bin/true returns while the process may still be exiting, and a plain delete would race with it.
args=()
for mode in warm cold; do
  for case in lifecycle run; do
    for rt in "${runtimes[@]}"; do
      r="${bin[$rt]} --root /run/davit-bench/$rt"
      b="$work/bundle-$rt"
      if [ "$case" = lifecycle ]; then
        cmd="$r create --bundle $b $id && $r start $id && $r delete --force $id"
      else
        cmd="$r run --bundle $b $id && $r delete --force $id"
      fi
      [ "$mode" = warm ] && prep=$warm || prep=$cold
      args+=(--command-name "$rt $case $mode" --prepare "$prep" "$cmd")
    done
  done
done
hyperfine --style basic --warmup "$BENCH_WARMUP" --runs "$BENCH_RUNS" --setup "$leftovers" \
  --export-json "$work/hyperfine.json" "${args[@]}"

# Cross-check: every round runs all 12 (runtime, case, mode) cycles in a shuffled order.
/usr/bin/python3 "$here/roundrobin.py"

# Where the time goes: `run; delete -f`, warm, with and without the seccomp profile, and davit
# with its compiled-profile cache emptied before each run (a profile's first start). The first
# start also cold, with crun cold beside it: davit compiles before its first cgroup.procs write,
# which then comes ~12 ms after the warming one, late enough to pay the slow write again.
d="${bin[davit]} --root /run/davit-bench/davit"
c="${bin[crun]} --root /run/davit-bench/crun"
hyperfine --style basic --warmup "$BENCH_WARMUP" --runs "$BENCH_RUNS" --setup "$leftovers" \
  --export-json "$work/breakdown.json" \
  --command-name "davit, profile cached" --prepare "$warm" \
  "$d run --bundle $work/bundle-davit $id && $d delete --force $id" \
  --command-name "davit, profile compiled (cache emptied)" \
  --prepare "rm -rf /run/davit-bench/davit/@seccomp; $warm" \
  "$d run --bundle $work/bundle-davit $id && $d delete --force $id" \
  --command-name "davit, no linux.seccomp" --prepare "$warm" \
  "$d run --bundle $work/bundle-davit-noseccomp $id && $d delete --force $id" \
  --command-name "crun" --prepare "$warm" \
  "$c run --bundle $work/bundle-crun $id && $c delete --force $id" \
  --command-name "crun, no linux.seccomp" --prepare "$warm" \
  "$c run --bundle $work/bundle-crun-noseccomp $id && $c delete --force $id" \
  --command-name "davit, profile compiled (cache emptied), cold" \
  --prepare "rm -rf /run/davit-bench/davit/@seccomp; $cold" \
  "$d run --bundle $work/bundle-davit $id && $d delete --force $id" \
  --command-name "crun, cold" --prepare "$cold" \
  "$c run --bundle $work/bundle-crun $id && $c delete --force $id"

# System calls per `run` (all processes of the runtime, strace -f): each runtime with the
# profile (davit's cached), davit's first start of a profile, and davit and crun without one.
syscalls() { # syscalls NAME RUNTIME BUNDLE
  local r="${bin[$2]} --root /run/davit-bench/$2"
  # shellcheck disable=SC2086 # $r is the runtime and its --root, split on purpose
  strace -f -c -o "$work/syscalls-$1.txt" $r run --bundle "$work/$3" $id >/dev/null
  # shellcheck disable=SC2086
  $r delete --force $id
}
for rt in "${runtimes[@]}"; do
  syscalls "$rt" "$rt" "bundle-$rt"
done
rm -rf /run/davit-bench/davit/@seccomp
syscalls davit-first davit bundle-davit
syscalls davit-noseccomp davit bundle-davit-noseccomp
syscalls crun-noseccomp crun bundle-crun-noseccomp
