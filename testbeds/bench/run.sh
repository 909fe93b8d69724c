#!/usr/bin/env bash
# The benchmark entry point: testbeds/bench/run.sh (as root, on Debian/Ubuntu).
# Installs the peers (runc, crun, containerd, podman, docker.io) and tools from Debian, times the
# container lifecycle of davit, crun and runc (table 1), the start latency of davit's daemon vs
# the CLIs and engines (table 2), the memory of the processes that manage idle apps (table 3),
# measures binary sizes, and writes testbeds/bench/RESULTS.md + latency.svg.
# Raw data (hyperfine JSON, round-robin samples, memory samples, logs) goes to $DAVIT_CACHE/bench/.
# Knobs: BENCH_RUNS (hyperfine runs per command, default 60), BENCH_WARMUP (5),
# BENCH_ROUNDS (round-robin rounds, 60), BENCH_COLD_SLEEP (idle seconds before a cold run, 0.2),
# BENCH_START_ROUNDS (table 2 rounds, 60), BENCH_SETTLE (seconds before a memory sample, 2),
# BENCH_MEM_APPS (davit's app counts in table 3, "1 10 50"), BENCH_PEER_APPS (the others', 10),
# BENCH_SIZE (0: skip the cross builds of table 4's per-crate part, reuse the last ones).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../env.sh"   # DAVIT_CACHE, DAVIT_BIN; unsets RUST_BACKTRACE (~1.2 ms per davit run)
started=$(date +%s)

[ "$(id -u)" = 0 ] || { echo "bench: run as root (containers, cgroups, mount namespaces)" >&2; exit 1; }

davit_apt_install bench runc crun hyperfine gnuplot-nox jq python3 busybox-static util-linux file strace \
  containerd podman procps
# docker.io (dockerd 20.10 and its client) without its recommends (apparmor, cgroupfs-mount,
# needrestart...): the benchmark runs a private dockerd of its own. On a host with systemd the
# package also enables and starts the system's dockerd, which the benchmark does not use.
if ! dpkg-query -W -f='${Status}' docker.io 2>/dev/null | grep -q "install ok installed"; then
  echo "bench: installing docker.io"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi
[ -x "$DAVIT_BIN" ] || { echo "bench: $DAVIT_BIN not built: run testbeds/setup.sh" >&2; exit 1; }

export BENCH_RUNS=${BENCH_RUNS:-60} BENCH_WARMUP=${BENCH_WARMUP:-5} BENCH_ROUNDS=${BENCH_ROUNDS:-60}
export BENCH_COLD_SLEEP=${BENCH_COLD_SLEEP:-0.2}
export BENCH_START_ROUNDS=${BENCH_START_ROUNDS:-60} BENCH_SETTLE=${BENCH_SETTLE:-2}
export BENCH_MEM_APPS=${BENCH_MEM_APPS:-1 10 50} BENCH_PEER_APPS=${BENCH_PEER_APPS:-10}
export BENCH_LOAD_START
BENCH_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
export BENCH_DATE
BENCH_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')

# Work directory, outside the clone: raw results stay there for inspection.
work="$DAVIT_CACHE/bench"
export BENCH_WORK="$work"
rm -rf "$work" && mkdir -p "$work"
# Benchmark a copy: a cargo build running meanwhile may replace the binary under $DAVIT_BIN.
cp -p "$DAVIT_BIN" "$work/davit"
export BENCH_DAVIT="$work/davit"
# Only the product binary (static, stripped) is worth measuring: a test or debug build that a
# concurrent cargo run left at the same path is refused (BENCH_ANY_BINARY=1 to measure it anyway).
kind=$(file -b "$BENCH_DAVIT")
if [[ "$kind" != *static* || "$kind" == *"not stripped"* ]] && [ "${BENCH_ANY_BINARY:-0}" != 1 ]; then
  echo "bench: $DAVIT_BIN is not the static stripped release binary ($kind);" \
    "a build in progress? run testbeds/setup.sh, or set BENCH_ANY_BINARY=1" >&2
  exit 1
fi

# One read-only busybox rootfs; one bundle per runtime, identical except linux.cgroupsPath
# (/bench/<runtime>), so each runtime's cgroups are at comparable paths.
"$here/../rootfs.sh" "$work/rootfs"
"$BENCH_DAVIT" spec --bundle "$work"
for rt in davit crun runc; do
  mkdir -p "$work/bundle-$rt"
  jq --arg cg "/bench/$rt" --arg root "$work/rootfs" \
    '.process.args = ["/bin/true"] | .process.terminal = false | .root.path = $root
     | .root.readonly = true | .linux.cgroupsPath = $cg' \
    "$work/config.json" >"$work/bundle-$rt/config.json"
done
# For the breakdown: the same bundles without linux.seccomp (only davit and crun).
for rt in davit crun; do
  mkdir -p "$work/bundle-$rt-noseccomp"
  jq 'del(.linux.seccomp)' "$work/bundle-$rt/config.json" >"$work/bundle-$rt-noseccomp/config.json"
done

# The hybrid cgroup layout of this host (v1 controllers + a cgroup2 mount at
# /sys/fs/cgroup/unified) makes crun 1.8.1 refuse to run. Every measurement therefore runs in a
# private mount namespace where an empty tmpfs hides that cgroup2 mount: all runtimes see the
# same (v1) layout. lifecycle.sh mounts it; nothing leaks to the host.
echo "bench: lifecycle latency (hyperfine + round-robin); load $BENCH_LOAD_START"
# Sample the load while measuring: other work on the machine (compiles) widens the spreads.
(while sleep 5; do cut -d' ' -f1 /proc/loadavg; done) >"$work/load.samples" &
sampler=$!
trap 'kill $sampler 2>/dev/null || true' EXIT
unshare --mount --propagation private "$here/lifecycle.sh" 2>&1 | tee "$work/lifecycle.log"
# Tables 2 and 3 in a namespace of the same kind: crun needs it, and davit's daemon, containerd,
# dockerd and podman all run unchanged in it (their mounts die with it).
echo "bench: start latency and management memory (davit supervise, containerd, podman, docker)"
unshare --mount --propagation private "$here/supervisor.sh" 2>&1 | tee "$work/supervisor.log"
echo "bench: the update engine (testbeds/bench/install.sh)"
"$here/install.sh" 2>&1 | tee "$work/install.log"
kill $sampler 2>/dev/null || true
# Table 4's per-crate part: the boards' binaries, cross-built (after the timings: it compiles).
# BENCH_SIZE=0 skips it and reuses the last $DAVIT_CACHE/size/ results.
if [ "${BENCH_SIZE:-1}" != 0 ]; then
  echo "bench: binary size per crate (testbeds/bench/size.sh)"
  "$here/size.sh" 2>&1 | tee "$work/size.log"
fi

export BENCH_LOAD_END
BENCH_LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
export BENCH_ELAPSED=$(( $(date +%s) - started ))
/usr/bin/python3 "$here/report.py" "$here/RESULTS.md" "$work/latency.dat"
gnuplot -e "datafile='$work/latency.dat'; outfile='$here/latency.svg'; subtitle='$(cat "$work/subtitle")'" \
  "$here/latency.gp"
echo "bench: wrote $here/RESULTS.md and $here/latency.svg in $(( $(date +%s) - started )) s" \
  "(raw data in $work)"
