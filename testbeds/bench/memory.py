#!/usr/bin/python3
"""Table 3 helpers, run by supervisor.sh: waits for idle apps and samples the memory of the
processes that manage them.

  memory.py wait CGROUP N TIMEOUT [--davit-sock SOCK]
      Waits (at most TIMEOUT s) until N processes named `sleep` (containers that have exec'd
      their program) are in the cgroup subtree CGROUP (e.g. /davit-bench2/mem-podman), and with
      --davit-sock until `davit app list --json` shows N apps `running`.
  memory.py sample --label L --apps N --kind davit|podman|containerd|docker --mark STR
                   [--docker-mark STR]
      Finds the management processes by their /proc/PID/cmdline (and parent), never a container's
      process, sums Private_Dirty, Pss_Anon, Pss (/proc/PID/smaps_rollup) and Threads
      (/proc/PID/status), and appends one JSON line to $BENCH_WORK/memory.jsonl.
"""
import argparse
import functools
import json
import os
import subprocess
import sys
import time

CGP = os.environ.get("BENCH_CGROUP_PARENT", "davit-bench2")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def argv_of(pid):
    try:
        return [a.decode(errors="replace") for a in read(f"/proc/{pid}/cmdline").split(b"\0")[:-1]]
    except OSError:
        return []


def comm_of(pid):
    try:
        return read(f"/proc/{pid}/comm").decode(errors="replace").strip()
    except OSError:
        return ""


def ppid_of(pid):
    try:
        stat = read(f"/proc/{pid}/stat").decode(errors="replace")
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


@functools.lru_cache(maxsize=None)
def cgroup_root():
    """Where the container cgroups are: the v1 pids hierarchy, or the cgroup2 root."""
    v2 = None
    with open("/proc/self/mounts") as f:
        for line in f:
            _, mnt, fstype, opts = line.split()[:4]
            if fstype == "cgroup" and "pids" in opts.split(","):
                return mnt
            if fstype == "cgroup2" and v2 is None:
                v2 = mnt
    return v2 or "/sys/fs/cgroup"


def sleepers(cg):
    """Pids of the processes named `sleep` in the cgroup subtree cg (a path below the root)."""
    found = []
    for dirpath, _, files in os.walk(cgroup_root() + cg):
        if "cgroup.procs" not in files:
            continue
        try:
            procs = read(f"{dirpath}/cgroup.procs").split()
        except OSError:
            continue
        found += [int(p) for p in procs if comm_of(int(p)) == "sleep"]
    return found


def davit_running(sock):
    out = subprocess.run([os.environ["BENCH_DAVIT"], "app", "--socket", sock, "list", "--json"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return 0
    return sum(1 for a in json.loads(out.stdout) if a.get("state") == "running")


def wait(args):
    deadline = time.monotonic() + args.timeout
    while True:
        n = len(sleepers(args.cgroup))
        d = davit_running(args.davit_sock) if args.davit_sock else None
        if n >= args.n and (d is None or d >= args.n):
            return
        if time.monotonic() > deadline:
            sys.exit(f"memory.py: after {args.timeout} s, {n} of {args.n} container processes in "
                     f"{args.cgroup}" + ("" if d is None else f", {d} apps running"))
        time.sleep(0.1)


FIELDS = ("Private_Dirty", "Pss_Anon", "Pss", "Rss")


def anon_by_mapping(pid):
    """kB of anonymous pages (smaps' Anonymous, not split between sharers) in the executable's
    own writable mappings (relocated data, .data, .bss), the heap, the stacks, and the rest."""
    exe = os.readlink(f"/proc/{pid}/exe")
    out = {"binary": 0, "heap": 0, "stack": 0, "other": 0}
    kind = "other"
    for line in read(f"/proc/{pid}/smaps").decode(errors="replace").splitlines():
        f = line.split()
        if f and "-" in f[0] and not f[0].endswith(":"):
            path = f[5] if len(f) > 5 else ""
            kind = ("binary" if path == exe else "heap" if path == "[heap]"
                    else "stack" if path.startswith("[stack") else "other")
        elif f and f[0] == "Anonymous:":
            out[kind] += int(f[1])
    return out


def measure(pid, role):
    rollup = {}
    for line in read(f"/proc/{pid}/smaps_rollup").decode().splitlines()[1:]:
        k, v = line.split(":", 1)
        rollup[k] = int(v.split()[0])  # kB
    threads = 0
    for line in read(f"/proc/{pid}/status").decode().splitlines():
        if line.startswith("Threads:"):
            threads = int(line.split()[1])
    return {"pid": pid, "role": role, "comm": comm_of(pid), "argv": " ".join(argv_of(pid))[:200],
            "threads": threads, **{k: rollup.get(k, 0) for k in FIELDS},
            **({"anon_by_mapping": anon_by_mapping(pid)} if role in ("davit supervise", "launcher") else {})}


def find(kind, mark, docker_mark):
    """(pid, role) of the management processes, and what is expected of them."""
    procs = {p: argv_of(p) for p in pids()}
    joined = {p: " ".join(a) for p, a in procs.items()}
    out = []
    if kind == "davit":
        # The daemon: `davit ... supervise ... --state-dir MARK`; the launcher is its fork, so
        # the same command line, with the daemon as parent. The daemon's other children are the
        # containers' inits (it is their subreaper): not counted.
        ours = [p for p, a in procs.items() if "supervise" in a and mark in joined[p]]
        daemons = [p for p in ours if ppid_of(p) not in ours]
        if len(daemons) != 1:
            sys.exit(f"memory.py: {len(daemons)} davit daemons for {mark}: {daemons}")
        d = daemons[0]
        launchers = [p for p in ours if ppid_of(p) == d and procs[p] == procs[d]]
        if len(launchers) != 1:
            sys.exit(f"memory.py: daemon {d} has {len(launchers)} launchers: {launchers}")
        out = [(d, "davit supervise"), (launchers[0], "launcher")]
        others = [p for p in procs if ppid_of(p) == d and p != launchers[0]]
        strays = [p for p in others if comm_of(p) != "sleep"]
        if strays:
            sys.exit(f"memory.py: daemon {d} has children that are neither the launcher nor an "
                     f"app: {[(p, joined[p]) for p in strays]}")
    elif kind == "podman":
        out = [(p, "conmon") for p in procs if comm_of(p) == "conmon" and mark in joined[p]]
    elif kind in ("containerd", "docker"):
        ns = "default" if kind == "containerd" else "moby"
        for p, a in procs.items():
            if a and os.path.basename(a[0]) == "containerd" and "--config" in a and mark in joined[p]:
                out.append((p, "containerd"))
            elif (comm_of(p).startswith("containerd-shim") and mark in joined[p]
                  and f"-namespace {ns}" in joined[p]):
                out.append((p, "shim"))
            elif kind == "docker" and comm_of(p) == "dockerd" and docker_mark in joined[p]:
                out.append((p, "dockerd"))
    return out


def sample(args):
    found = find(args.kind, args.mark, args.docker_mark)
    expected = {"davit": 2, "podman": args.apps, "containerd": 1 + args.apps,
                "docker": 2 + args.apps}[args.kind]
    if len(found) != expected:
        sys.exit(f"memory.py: {args.label}: found {len(found)} management processes, expected "
                 f"{expected}: {found}")
    rows = [measure(p, role) for p, role in found]
    if any(r["comm"] == "sleep" for r in rows):
        sys.exit(f"memory.py: a container's process was taken for a manager: {rows}")
    total = {k: sum(r[k] for r in rows) for k in (*FIELDS, "threads")}
    rec = {"label": args.label, "kind": args.kind, "apps": args.apps, "processes": len(rows),
           "total": total, "rows": rows, "time": time.time()}
    with open(f"{os.environ['BENCH_WORK']}/memory.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(f"  {args.label}: {len(rows)} processes, Pss_Anon {total['Pss_Anon']} kB, "
          f"Private_Dirty {total['Private_Dirty']} kB, Pss {total['Pss']} kB, "
          f"{total['threads']} threads")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("wait")
    w.add_argument("cgroup")
    w.add_argument("n", type=int)
    w.add_argument("timeout", type=float)
    w.add_argument("--davit-sock")
    s = sub.add_parser("sample")
    s.add_argument("--label", required=True)
    s.add_argument("--apps", type=int, required=True)
    s.add_argument("--kind", required=True, choices=("davit", "podman", "containerd", "docker"))
    s.add_argument("--mark", required=True)
    s.add_argument("--docker-mark", default="")
    args = ap.parse_args()
    wait(args) if args.cmd == "wait" else sample(args)


if __name__ == "__main__":
    main()
