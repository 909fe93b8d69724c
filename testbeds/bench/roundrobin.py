#!/usr/bin/python3
"""Round-robin cross-check of the hyperfine table, run by lifecycle.sh in its mount namespace.

Each round runs every (runtime, case, mode) cycle once, in a freshly shuffled order (fixed seed),
so slow drift of the machine's load hits all runtimes alike. A cycle is timed with
perf_counter_ns around the runtime commands, spawned directly (no shell). Before a "warm" cycle a
shell writes its pid to a dummy cgroup's cgroup.procs (as hyperfine's --prepare does); before a
"cold" cycle the loop sleeps BENCH_COLD_SLEEP seconds without any cgroup write.
Writes $BENCH_WORK/roundrobin.json: {"<rt> <case> <mode>": [seconds, ...]}.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import time

work = os.environ["BENCH_WORK"]
rounds = int(os.environ.get("BENCH_ROUNDS", "60"))
cold_sleep = float(os.environ.get("BENCH_COLD_SLEEP", "0.2"))
warm_cg = os.environ["BENCH_WARM_CG"]
bins = {"davit": os.environ["BENCH_DAVIT"], "crun": shutil.which("crun"), "runc": shutil.which("runc")}
cid = "bench"


def cycle(rt, case):
    r = [bins[rt], "--root", f"/run/davit-bench/{rt}"]
    b = f"{work}/bundle-{rt}"
    if case == "lifecycle":
        return [r + ["create", "--bundle", b, cid], r + ["start", cid], r + ["delete", "--force", cid]]
    return [r + ["run", "--bundle", b, cid], r + ["delete", "--force", cid]]


# stderr goes to a file, not a pipe: the container process created by `create` inherits it and
# keeps it open until `start`, so reading a pipe to its end would deadlock.
errlog = open(f"{work}/roundrobin.stderr", "w+b")


def timed(cmds):
    t0 = time.perf_counter_ns()
    for c in cmds:
        errlog.seek(0)
        errlog.truncate()
        rc = subprocess.call(c, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=errlog, close_fds=False)
        if rc != 0:
            errlog.seek(0)
            sys.exit(f"roundrobin: {' '.join(c)} exited {rc}: {errlog.read().decode().strip()}")
    return (time.perf_counter_ns() - t0) / 1e9


items = [(rt, case, mode) for mode in ("warm", "cold") for case in ("lifecycle", "run")
         for rt in ("davit", "crun", "runc")]
samples = {f"{rt} {case} {mode}": [] for rt, case, mode in items}
rng = random.Random(20261123)
warm = ["sh", "-c", f"echo $$ > {warm_cg}/cgroup.procs"]
print(f"roundrobin: {rounds} rounds x {len(items)} cycles, shuffled order")
for i in range(-1, rounds):  # round -1: warm-up, discarded
    order = items[:]
    rng.shuffle(order)
    for rt, case, mode in order:
        if mode == "warm":
            subprocess.run(warm, check=True)
        else:
            time.sleep(cold_sleep)
        t = timed(cycle(rt, case))
        if i >= 0:
            samples[f"{rt} {case} {mode}"].append(t)
with open(f"{work}/roundrobin.json", "w") as f:
    json.dump(samples, f)
for k, v in samples.items():
    v = sorted(v)
    print(f"  {k:22s} median {v[len(v) // 2] * 1e3:7.2f} ms")
