#!/usr/bin/python3
"""Table 2, run by supervisor.sh in its mount namespace with containerd, dockerd and davit's
daemon up: how long from a start command to the app's process running.

Each round starts a busybox `sleep 1000` once with each of: `davit app start` (the daemon has the
app configured, stopped), `crun run -d`, `runc run -d` (same bundle, each its own --root and
cgroupsPath), `ctr run -d`, `podman run -d`, `docker run -d` (the same rootfs imported as an
image), in a freshly shuffled order (fixed seed); round -1 is a discarded warm-up.

One start, timed with perf_counter_ns: t0 just before the command is spawned (directly, no
shell), the end at the first instant when both (a) the command has exited with status 0 and
(b) a process named `sleep` is in the container's cgroup subtree, that is, the container's init
has exec'd the app's program. (b) is polled every 0.2 ms from (a) on: for the CLIs, which
return once the runtime's `start` is done, it nearly always holds at once; `davit app start`
returns once the daemon has taken the request, and the daemon then creates and starts the
container. Untimed, after each start: davit's status must say `running` with that pid; then
the container is stopped and deleted, and the loop waits until its cgroup is empty and no
transient process (shim, conmon, podman's cleanup) of this run is left.
Before each start a shell writes its pid to a dummy cgroup's cgroup.procs ("warm", as table 1).
Writes $BENCH_WORK/startlatency.json: {"<peer>": {"running": [s...], "returned": [s...]}}.
"""
import json
import os
import random
import shlex
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the clone
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memory import argv_of, cgroup_root, pids, read, sleepers  # noqa: E402

env = os.environ
work, sw, cgp, img = env["BENCH_WORK"], env["BENCH_SUP"], env["BENCH_CGROUP_PARENT"], env["BENCH_IMAGE"]
rounds = int(env.get("BENCH_START_ROUNDS", "60"))
davit, sock = env["BENCH_DAVIT"], env["BENCH_DAVITD_SOCK"]
C, D, P = shlex.split(env["BENCH_CTR"]), shlex.split(env["BENCH_DOCKER"]), shlex.split(env["BENCH_PODMAN"])
P_RUN = shlex.split(env["BENCH_PODMAN_RUN"])
cid = "bench"
PEERS = ("davit", "crun", "runc", "ctr", "podman", "docker")
sleep_cmd = ["sleep", "1000"]


def oci(rt):
    r = [rt, "--root", f"{sw}/{rt}"]
    return {"start": r + ["run", "-d", "--bundle", f"{sw}/bundle-start-{rt}", cid],
            "stop": [r + ["delete", "--force", cid]]}


peers = {
    "davit": {"start": [davit, "app", "--socket", sock, "start", "t2"],
              "stop": [[davit, "app", "--socket", sock, "stop", "t2"]]},
    "crun": oci("crun"),
    "runc": oci("runc"),
    "ctr": {"start": C + ["run", "-d", "--cgroup", f"/{cgp}/start-ctr", img, cid] + sleep_cmd,
            "stop": [C + ["tasks", "rm", "-f", cid], C + ["containers", "rm", cid]]},
    "podman": {"start": P + ["run", "-d", "--name", cid] + P_RUN
               + ["--cgroup-parent", f"/{cgp}/start-podman", img] + sleep_cmd,
               "stop": [P + ["rm", "-f", "-t", "0", cid]]},
    "docker": {"start": D + ["run", "-d", "--name", cid, "--network", "none",
                             "--cgroup-parent", f"/{cgp}/start-docker", img] + sleep_cmd,
               "stop": [D + ["rm", "-f", cid]]},
}
for rt in PEERS:
    peers[rt]["cg"] = f"/{cgp}/start-{rt}"

# stderr to a file, not a pipe: a container started by `run -d` inherits it.
errlog = open(f"{work}/startlatency.stderr", "w+b")


def run(cmd, what):
    errlog.seek(0)
    errlog.truncate()
    rc = subprocess.call(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errlog)
    if rc != 0:
        errlog.seek(0)
        sys.exit(f"startlatency: {what}: {shlex.join(cmd)} exited {rc}: {errlog.read().decode().strip()}")


def ours():
    """Pids of the processes whose command line names this run's directory."""
    return {p for p in pids() if any(sw in a for a in argv_of(p))}


def cgroup_empty(cg):
    for dirpath, _, files in os.walk(cgroup_root() + cg):
        try:
            if "cgroup.procs" in files and read(f"{dirpath}/cgroup.procs").strip():
                return False
        except OSError:
            pass
    return True


def until(cond, seconds, what):
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            sys.exit(f"startlatency: timed out after {seconds} s: {what}")
        time.sleep(0.01)


warm = ["sh", "-c", f"echo $$ > {env['BENCH_WARM_CG']}/cgroup.procs"]
daemons = ours()  # containerd, dockerd, davit's daemon and launcher: up for the whole loop


def status(name):
    out = subprocess.run([davit, "app", "--socket", sock, "status", name, "--json"],
                         capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def one(rt):
    spec = peers[rt]
    subprocess.run(warm, check=True)
    t0 = time.perf_counter_ns()
    run(spec["start"], f"{rt} start")
    t_ret = time.perf_counter_ns()
    deadline = t_ret + 10 * 10**9
    while True:
        found = sleepers(spec["cg"])
        if found:
            break
        if time.perf_counter_ns() > deadline:
            sys.exit(f"startlatency: {rt}: no `sleep` in {spec['cg']} 10 s after the start returned")
        time.sleep(0.0002)
    t1 = time.perf_counter_ns()
    # Untimed from here on.
    if rt == "davit":
        until(lambda: status("t2").get("state") == "running", 10, "davit's status to say running")
        s = status("t2")
        if s.get("pid") not in found:
            sys.exit(f"startlatency: davit reports pid {s.get('pid')}, the container's is {found}")
    for cmd in spec["stop"]:
        run(cmd, f"{rt} stop")
    until(lambda: cgroup_empty(spec["cg"]), 10, f"{rt}'s cgroup {spec['cg']} to empty")
    until(lambda: ours() <= daemons, 10, f"{rt}'s transient processes to exit")
    return (t1 - t0) / 1e9, (t_ret - t0) / 1e9


samples = {rt: {"running": [], "returned": []} for rt in PEERS}
rng = random.Random(20261130)
print(f"startlatency: {rounds} rounds x {len(PEERS)} starts, shuffled order")
for i in range(-1, rounds):  # round -1: warm-up (first unpack of the image, caches), discarded
    order = list(PEERS)
    rng.shuffle(order)
    for rt in order:
        running, returned = one(rt)
        if i >= 0:
            samples[rt]["running"].append(running)
            samples[rt]["returned"].append(returned)
with open(f"{work}/startlatency.json", "w") as f:
    json.dump(samples, f)
for rt, v in samples.items():
    r, a = sorted(v["running"]), sorted(v["returned"])
    print(f"  {rt:7s} running after {r[len(r) // 2] * 1e3:7.1f} ms (median), "
          f"command returned after {a[len(a) // 2] * 1e3:7.1f} ms")
