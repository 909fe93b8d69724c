#!/usr/bin/python3
"""Writes RESULTS.md (argv[1]) and the chart data (argv[2]) from run.sh's raw results.

Reads $BENCH_WORK/hyperfine.json, $BENCH_WORK/roundrobin.json and the BENCH_* environment that
run.sh exports; measures binary sizes and describes the machine itself.
"""
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time

out_md, out_dat = sys.argv[1], sys.argv[2]
env = os.environ
work = env["BENCH_WORK"]
here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(here))
cache = env.get("DAVIT_CACHE", "/var/cache/davit")
RUNTIMES = ("davit", "crun", "runc")
CASES = (("lifecycle", "`create; start; delete -f`"), ("run", "`run; delete -f`"))
MODES = ("warm", "cold")


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def quantile(v, q):
    v = sorted(v)
    pos = (len(v) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def stats(times):
    ms = [t * 1e3 for t in times]
    n = len(ms)
    mean = sum(ms) / n
    sd = (sum((x - mean) ** 2 for x in ms) / (n - 1)) ** 0.5 if n > 1 else 0.0
    return {"n": n, "median": quantile(ms, 0.5), "p25": quantile(ms, 0.25),
            "p75": quantile(ms, 0.75), "min": min(ms), "max": max(ms), "mean": mean, "sd": sd}


def load(path):
    with open(path) as f:
        return json.load(f)


hyper = {r["command"]: stats(r["times"]) for r in load(f"{work}/hyperfine.json")["results"]}
rr = {k: stats(v) for k, v in load(f"{work}/roundrobin.json").items()}


def latency_table(data, title_note):
    lines = [f"| cycle | {' | '.join(RUNTIMES)} |", "|---|" + "---|" * len(RUNTIMES)]
    for case, label in CASES:
        for mode in MODES:
            crun = data[f"crun {case} {mode}"]["median"]
            cells = []
            for rt in RUNTIMES:
                s = data[f"{rt} {case} {mode}"]
                ratio = s["median"] / crun
                r = f"**{ratio:.2f}x**" if rt == "davit" else f"{ratio:.2f}x"
                cells.append(f"{s['median']:.1f} ms ({s['p25']:.1f}–{s['p75']:.1f}) {r}")
            lines.append(f"| {label} {mode} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Cells: median (interquartile range p25–p75), then the ratio of medians to crun. {title_note}")
    return "\n".join(lines)


def detail_table(data):
    lines = ["| runtime | cycle | runs | median | mean ± sd | min – max |", "|---|---|---|---|---|---|"]
    for case, label in CASES:
        for mode in MODES:
            for rt in RUNTIMES:
                s = data[f"{rt} {case} {mode}"]
                lines.append(f"| {rt} | {label} {mode} | {s['n']} | {s['median']:.2f} ms | "
                             f"{s['mean']:.2f} ± {s['sd']:.2f} ms | {s['min']:.2f} – {s['max']:.2f} ms |")
    return "\n".join(lines)


# ---- breakdown: run; delete -f, warm, with and without linux.seccomp ----
breakdown = {r["command"]: stats(r["times"]) for r in load(f"{work}/breakdown.json")["results"]}


def syscall_counts(rt):
    """Total calls and the five most frequent, from `strace -f -c`."""
    top, total = [], None
    try:
        lines = open(f"{work}/syscalls-{rt}.txt").read().splitlines()
    except OSError:
        return None, []
    for line in lines:
        f = line.split()
        if len(f) >= 5 and re.match(r"^[\d.]+$", f[0]) and f[3].isdigit():
            if f[-1] == "total":
                total = int(f[3])
            else:
                top.append((int(f[3]), f[-1]))
    return total, sorted(top, reverse=True)[:5]


def breakdown_section():
    b = {k: v["median"] for k, v in breakdown.items()}
    cached, compiled = b["davit, profile cached"], b["davit, profile compiled (cache emptied)"]
    bare, crun, crun_bare = b["davit, no linux.seccomp"], b["crun"], b["crun, no linux.seccomp"]
    lines = ["| `run; delete -f`, warm unless said cold | median | IQR | ratio to crun |",
             "|---|---|---|---|"]
    for name, s in breakdown.items():
        ref = b["crun, cold"] if name.endswith(", cold") else crun
        lines.append(f"| {name} | {s['median']:.1f} ms | {s['p25']:.1f}–{s['p75']:.1f} ms | "
                     f"{s['median'] / ref:.2f}x |")
    lines += ["", "What the differences of medians say:", "",
              f"- The profile costs crun {crun - crun_bare:.1f} ms of {crun:.1f} ms "
              f"({(crun - crun_bare) / crun:.0%}): libseccomp compiles it at every create.",
              f"- davit compiles it only on a profile's first start ({compiled - cached:+.1f} ms "
              f"when the cache is empty) and otherwise loads the stored program: "
              f"{cached - bare:+.1f} ms over no profile at all.",
              "- A first start warm pays the compile and, as the compile delays davit's first "
              "`cgroup.procs` write (~12 ms after the warming write, where crun's comes before its "
              "compile), the slow cgroup write again; cold, where every runtime pays that write, "
              "davit's first start and crun are alike (the cold rows; ratios there to crun, cold).",
              f"- **Without any profile, davit is {bare - crun_bare:+.1f} ms from crun** "
              f"({bare:.1f} vs {crun_bare:.1f} ms, {bare / crun_bare:.2f}x)"
              + (f": the largest remaining cost of davit's own, {(bare - crun_bare) / cached:.0%} of "
                 "a cached-profile run." if bare > crun_bare else
                 ": no cost of davit's own is left over crun's at this spread.")]
    rows = (("davit", "davit, profile cached"), ("davit-first", "davit, profile compiled (cache emptied)"),
            ("davit-noseccomp", "davit, no linux.seccomp"), ("crun", "crun"),
            ("crun-noseccomp", "crun, no linux.seccomp"), ("runc", "runc"))
    counts = [(label, syscall_counts(f)) for f, label in rows]
    counts = [(label, c) for label, c in counts if c[0]]
    if counts:
        lines += ["", "System calls in one `run` (all of the runtime's processes, `strace -f -c`):", "",
                  "| runtime | calls | most frequent |", "|---|---|---|"]
        for label, (total, top) in counts:
            lines.append(f"| {label} | {total} | " + ", ".join(f"{n} {name}" for n, name in top) + " |")
    return "\n".join(lines)


def seccomp_headline():
    """Table 1's headline: the three starts a board sees, each against crun with the same config."""
    b = {k: v["median"] for k, v in breakdown.items()}
    crun, crun_bare = b["crun"], b["crun, no linux.seccomp"]
    rows = [("no seccomp profile", b["davit, no linux.seccomp"] / crun_bare, 1.0),
            ("profile cached", b["davit, profile cached"] / crun, 0.7),
            ("a profile's first start (compiled)", b["davit, profile compiled (cache emptied)"] / crun, 1.1)]
    text = "; ".join(f"{name} **{r:.2f}x** (goal <= {g}x, {'met' if r <= g else 'not met'})"
                     for name, r, g in rows)
    cold = b.get("davit, profile compiled (cache emptied), cold"), b.get("crun, cold")
    if all(cold):
        text += (f"; the first start cold, against crun cold: **{cold[0] / cold[1]:.2f}x** "
                 f"({cold[0]:.1f} vs {cold[1]:.1f} ms)")
    return text


# ---- chart data: one line per (case, mode), median and IQR per runtime (hyperfine) ----
with open(out_dat, "w") as f:
    f.write("# cycle  " + "  ".join(f"{rt}_median {rt}_p25 {rt}_p75" for rt in RUNTIMES) + "  (ms)\n")
    for case, _ in CASES:
        name = "create;start;delete" if case == "lifecycle" else "run;delete"
        for mode in MODES:
            vals = []
            for rt in RUNTIMES:
                s = hyper[f"{rt} {case} {mode}"]
                vals += [s["median"], s["p25"], s["p75"]]
            f.write(f'"{name} ({mode})" ' + " ".join(f"{v:.3f}" for v in vals) + "\n")


# ---- machine ----
def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def cgroup_layout():
    v1, v2 = [], []
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype, opts = line.split()[:4]
            if fstype == "cgroup":
                ctrl = [o for o in opts.split(",") if o not in ("rw", "ro", "relatime", "nosuid",
                                                                "nodev", "noexec", "clone_children")]
                v1.append("+".join(ctrl))
            elif fstype == "cgroup2":
                try:
                    with open(os.path.join(mnt, "cgroup.controllers")) as c:
                        ctrls = c.read().split()
                except OSError:
                    ctrls = []
                v2.append(f"{mnt} (controllers: {' '.join(ctrls) or 'none'})")
    if v1 and v2:
        kind = "hybrid"
    elif v2:
        kind = "unified (cgroup v2 only)"
    else:
        kind = "legacy (cgroup v1 only)"
    parts = [kind]
    if v1:
        parts.append("v1: " + ", ".join(v1))
    if v2:
        parts.append("cgroup2 at " + "; ".join(v2))
    return "; ".join(parts)


def os_name():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "unknown"


def mem_total():
    with open("/proc/meminfo") as f:
        kb = int(f.readline().split()[1])
    return f"{kb / 1048576:.1f} GiB"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


nproc = os.cpu_count()
cpu = cpu_model()
kernel = platform.release()
davit = env["BENCH_DAVIT"]
git_rev = sh("git", "-C", repo, "rev-parse", "--short", "HEAD") or "unknown"
# The benchmark's own outputs (this file's, the chart) do not make the tree "changed".
git_dirty = " (with uncommitted changes)" if sh(
    "git", "-C", repo, "status", "--porcelain", "--untracked-files=no", "--", ".",
    ":!testbeds/bench/RESULTS.md", ":!testbeds/bench/latency.svg") else ""
layout_seen = open(f"{work}/layout-seen").read().strip()


# ---- sizes ----
def mb(n):
    return f"{n / 1e6:.2f} MB"


def ldd_libs(path):
    libs = []
    for line in sh("ldd", path).splitlines():
        m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if m:
            libs.append(os.path.realpath(m.group(1)))
    return libs


def describe(path):
    d = sh("file", "-b", "-L", path)
    link = "static" if "static" in d else "dynamic"
    stripped = "stripped" if re.search(r"(?<!not )stripped", d) else "not stripped"
    return link, stripped


size_rows = []
crun_total = None
davit_host = davit  # the benchmarked copy of $DAVIT_BIN
for arch, triple in (("x86_64", "x86_64-unknown-linux-gnu"), ("aarch64", "aarch64-unknown-linux-gnu"),
                     ("armv7", "armv7-unknown-linux-gnueabihf")):
    p = davit_host if arch == "x86_64" else f"{cache}/target/{triple}/release/davit"
    if os.path.isfile(p):
        n = os.path.getsize(p)
        link, stripped = describe(p)
        built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(p)))
        where = (f"copy of `{env.get('DAVIT_BIN')}` (the binary benchmarked above)" if arch == "x86_64"
                 else f"`{p}`") + f", built {built}"
        size_rows.append([f"davit ({arch})", n, f"{link}, {stripped}; {where}"])
    else:
        size_rows.append([f"davit ({arch})", None, f"not built (`{p}`)"])
for name in ("runc", "crun"):
    p = sh("sh", "-c", f"command -v {name}")
    n = os.path.getsize(p)
    link, stripped = describe(p)
    libs = ldd_libs(p)
    libsum = sum(os.path.getsize(x) for x in libs)
    ver = sh(p, "--version").splitlines()[0]
    size_rows.append([f"{name} (x86_64)", n, f"{ver}; {link}, {stripped}; `{p}`"])
    if libs:
        names = ", ".join(os.path.basename(x) for x in libs)
        size_rows.append([f"{name} + its {len(libs)} shared libs", n + libsum,
                          f"libs {mb(libsum)} (`ldd`, resolved): {names}"])
    if name == "crun":
        crun_total = (n, n + libsum)
size_rows.append(["youki 0.7.0 (x86_64)", 11.6e6,
                  "**reported, not measured**: not installable here (not packaged in Debian 12); "
                  "11.6 MB, default features, not stripped, from shared/baselines.md"])


# ---- per crate (testbeds/bench/size.sh) ----
BOARD_BUDGET = 5 * 1024 * 1024  # all three layers, one static binary, aarch64
RUNTIME_GOAL = 3 * 1024 * 1024  # the OCI runtime alone, aarch64 and armv7


def install_table():
    path = os.path.join(work, "install.md")
    if not os.path.exists(path):
        return "Not measured in this run (`testbeds/bench/install.sh`)."
    with open(path) as f:
        return f.read().strip()


def crate_sections():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import crates  # noqa: E402  (next to this file)
    out = []
    for arch, name in (("arm64", "aarch64"), ("armhf", "armv7")):
        try:
            full = json.load(open(f"{cache}/size/{arch}-all.json"))
            alone = json.load(open(f"{cache}/size/{arch}-runtime.json"))
        except OSError:
            out.append(f"Per crate, {name}: not measured (run `testbeds/bench/size.sh`).")
            continue
        built = time.strftime("%Y-%m-%d %H:%M UTC",
                              time.gmtime(os.path.getmtime(f"{cache}/size/{arch}-all.json")))
        n, r = full["shipped"], alone["shipped"]
        out += [f"### Per crate, {name} (`testbeds/bench/size.sh`, {built})", "",
                f"- Whole binary: **{n:,} B** ({n / 2**20:.2f} MiB); board budget 5 MiB "
                f"({BOARD_BUDGET:,} B) on aarch64: "
                + (f"{'met' if n <= BOARD_BUDGET else 'not met'}, {BOARD_BUDGET - n:+,} B." if name == "aarch64" else "n/a."),
                f"- The OCI runtime alone (`--no-default-features`, no supervisor): **{r:,} B** "
                f"({r / 2**20:.2f} MiB); goal 3.0 MiB: {'met' if r <= RUNTIME_GOAL else 'not met'} "
                f"({RUNTIME_GOAL - r:+,} B). The supervisor adds {n - r:,} B.", "",
                crates.table(full), ""]
    return "\n".join(out)


def size_table():
    lines = ["| binary | size | vs crun alone | vs crun + libs | notes |", "|---|---|---|---|---|"]
    for name, n, note in size_rows:
        if n is None:
            lines.append(f"| {name} | not built | | | {note} |")
        else:
            lines.append(f"| {name} | {mb(n)} ({int(n)} B) | {n / crun_total[0]:.1f}x | "
                         f"{n / crun_total[1]:.2f}x | {note} |")
    return "\n".join(lines)


# ---- 2. start latency (startlatency.py) ----
START_ROWS = (("davit", "`davit app start NAME` (daemon up, app stopped)"),
              ("crun", "`crun run -d`"), ("runc", "`runc run -d`"),
              ("ctr", "`ctr run -d` (containerd, runc shim)"),
              ("podman", "`podman run -d` (conmon, crun)"),
              ("docker", "`docker run -d` (dockerd, containerd, runc shim)"))
start = {rt: {k: stats(v) for k, v in d.items()} for rt, d in load(f"{work}/startlatency.json").items()}


def start_section():
    crun = start["crun"]["running"]["median"]
    lines = ["| start command | until running: median (IQR) | ratio to crun | "
             "the command alone returned after (median) |", "|---|---|---|---|"]
    for rt, label in START_ROWS:
        s, a = start[rt]["running"], start[rt]["returned"]
        ratio = f"{s['median'] / crun:.2f}x"
        if rt == "davit":
            ratio = f"**{ratio}**"
        lines.append(f"| {label} | {s['median']:.1f} ms ({s['p25']:.1f}–{s['p75']:.1f}) | {ratio} | "
                     f"{a['median']:.1f} ms |")
    d = start["davit"]["running"]["median"]
    ctr = start["ctr"]["running"]["median"]
    n = start["davit"]["running"]["n"]
    goal = (f"Goals: davit no slower than crun's CLI: {d / crun:.2f}x "
            f"({'met' if d <= crun else 'not met'}); an order of magnitude ahead of `ctr run -d`: "
            f"ctr takes {ctr / d:.1f}x davit's time ({'met' if ctr >= 10 * d else 'not met'}).")
    detail = ["| start command | n | median | mean ± sd | min – max |", "|---|---|---|---|---|"]
    for rt, label in START_ROWS:
        s = start[rt]["running"]
        detail.append(f"| {label} | {s['n']} | {s['median']:.2f} ms | {s['mean']:.2f} ± {s['sd']:.2f} ms | "
                      f"{s['min']:.2f} – {s['max']:.2f} ms |")
    return f"""## 2. Start latency

From a start command to the app's process running: a busybox `sleep 1000` started by davit's
daemon through its API, by crun and runc from the same bundle, and by containerd, podman and
docker from the same rootfs imported as an image. **Running** means: the start command has
exited with status 0 **and** a process named `sleep` is in the container's cgroup, that is, the
container's init has exec'd the app's program. The clock starts just before the command is
spawned and stops at the first instant both hold; the cgroup is polled every 0.2 ms once the
command has returned. The CLIs return after their runtime's `start`, so for them the two
instants almost coincide; `davit app start` returns as soon as the daemon has accepted the
request (the last column), and the daemon then creates and starts the container through its
launcher.

{goal}

{chr(10).join(lines)}

{n} rounds, each starting all six once in a freshly shuffled order (`startlatency.py`), after a
discarded warm-up round; ratio = ratio of medians to crun.

How: every daemon (davit's, containerd, dockerd) runs for the whole loop, with its own state
under `$DAVIT_CACHE/bench/sup`; davit's app file has `enabled = false` and
`stop_signal = "SIGKILL"`. crun and runc each have their own `--root` and a `cgroupsPath` of
their own; ctr gets `--cgroup`, podman and docker `--cgroup-parent`, so each container's
cgroup is known in advance. podman and docker run with `--network none` (ctr and the OCI
bundle have a network namespace without interfaces); podman uses its default runtime here,
crun, with overlay storage; docker and ctr use containerd's `io.containerd.runc.v2` shim with
runc. Seccomp: davit, crun and runc apply the bundle's profile (`davit spec`'s), podman and
docker their default profiles, ctr none. Between two starts, untimed: davit's status must
report `running` with the pid found in the cgroup; the container is then stopped and deleted
(`davit app stop`, `delete --force`, `ctr tasks rm -f` + `containers rm`, `podman rm -f -t 0`,
`docker rm -f`), and the loop waits until the cgroup is empty and every transient process of
the run (shims, conmons, podman's cleanup) has exited. Before each start a shell writes its pid
to a dummy cgroup, as in table 1's warm runs. All of it runs in the same private mount
namespace as table 1 (crun needs the cgroup2 mount hidden); containerd, dockerd and podman run
there unchanged.

{chr(10).join(detail)}"""


# ---- 3. management memory (memory.py) ----
mem = [json.loads(line) for line in open(f"{work}/memory.jsonl") if line.strip()]


def kb(n):
    return f"{n / 1000:.2f} MB" if n >= 1000 else f"{n} kB"


def memory_section():
    by = {(m["kind"], m["apps"]): m for m in mem}
    davit_rows = sorted((m for m in mem if m["kind"] == "davit"), key=lambda m: m["apps"])
    peers = [m for m in mem if m["kind"] != "davit"]
    ref_apps = int(env.get("BENCH_PEER_APPS", "10"))
    d_ref = by.get(("davit", ref_apps))
    names = {"davit": "davit: `davit supervise` + its launcher",
             "podman": "podman: the conmons", "containerd": "containerd + its shims",
             "docker": "dockerd + containerd + its shims"}
    lines = ["| manager | apps | processes | threads | anonymous dirty (Pss_Anon) | Private_Dirty | Pss | "
             "per app (Pss_Anon) |", "|---|---|---|---|---|---|---|---|"]
    for m in davit_rows + peers:
        t = m["total"]
        if m["kind"] == "davit":
            base = davit_rows[0]
            per = ("" if m is base else
                   f"+{(t['Pss_Anon'] - base['total']['Pss_Anon']) / (m['apps'] - base['apps']):.0f} kB "
                   f"(vs {base['apps']} app{'s' if base['apps'] > 1 else ''})")
        else:
            own = [r for r in m["rows"] if r["role"] in ("conmon", "shim")]
            per = f"{sum(r['Pss_Anon'] for r in own) / len(own):.0f} kB (one {own[0]['role']} each)"
        name = names[m["kind"]] if m["kind"] != "davit" or m is davit_rows[0] else "davit"
        lines.append(f"| {name} | {m['apps']} | {m['processes']} | {t['threads']} | {kb(t['Pss_Anon'])} | "
                     f"{kb(t['Private_Dirty'])} | {kb(t['Pss'])} | {per} |")
    goals = []
    conmon = next((m for m in peers if m["kind"] == "podman"), None)
    if d_ref and conmon:
        d, c = d_ref["total"], conmon["total"]
        r = d["Pss_Anon"] / c["Pss_Anon"]
        goals.append(f"- davit's anonymous dirty memory at most 1/5 of the {conmon['apps']} conmons' "
                     f"(Pss_Anon {kb(d['Pss_Anon'])} vs {kb(c['Pss_Anon'])}): **1/{1 / r:.1f}**, "
                     f"{'met' if r <= 0.2 else 'not met'}; the moonshot 1/10: "
                     f"{'met' if r <= 0.1 else 'not met'}. By Private_Dirty alone: "
                     f"{kb(d['Private_Dirty'])} vs {kb(c['Private_Dirty'])}, 1/{c['Private_Dirty'] / d['Private_Dirty']:.1f} "
                     f"(it leaves out the pages the launcher, a fork, still shares with the daemon).")
        goals.append(f"  Measured earlier on this machine: 10 conmons 3.32 MB anonymous dirty, 4.78 MB PSS; "
                     f"this run: {kb(c['Pss_Anon'])}, {kb(c['Pss'])} PSS.")
    if len(davit_rows) >= 3:
        a, b, c = davit_rows[0], davit_rows[1], davit_rows[-1]
        s1 = (b["total"]["Pss_Anon"] - a["total"]["Pss_Anon"]) / (b["apps"] - a["apps"])
        s2 = (c["total"]["Pss_Anon"] - b["total"]["Pss_Anon"]) / (c["apps"] - b["apps"])
        const = abs(s2 - s1) <= max(0.25 * max(abs(s1), abs(s2)), 4)
        goals.append(f"- Constant per added app: {s1:.1f} kB per app from {a['apps']} to {b['apps']} apps, "
                     f"{s2:.1f} kB from {b['apps']} to {c['apps']} "
                     f"({'met' if const else 'not met'}: the two slopes agree within 25% or 4 kB, a page).")
    detail = ["| manager | apps | process | pid | threads | Pss_Anon | Private_Dirty | Pss | Rss |",
              "|---|---|---|---|---|---|---|---|---|"]
    for m in davit_rows + peers:
        roles = {}
        for r in m["rows"]:
            roles.setdefault(r["role"], []).append(r)
        for role, rs in roles.items():
            if len(rs) == 1:
                r = rs[0]
                detail.append(f"| {m['label']} | {m['apps']} | {role} | {r['pid']} | {r['threads']} | "
                              f"{r['Pss_Anon']} kB | {r['Private_Dirty']} kB | {r['Pss']} kB | {r['Rss']} kB |")
            else:
                f = {k: sum(r[k] for r in rs) for k in ("threads", "Pss_Anon", "Private_Dirty", "Pss", "Rss")}
                detail.append(f"| {m['label']} | {m['apps']} | {len(rs)} x {role} (sum) | | {f['threads']} | "
                              f"{f['Pss_Anon']} kB | {f['Private_Dirty']} kB | {f['Pss']} kB | {f['Rss']} kB |")
    where = ["| davit | process | binary's writable mappings | heap | stack | other anonymous |",
             "|---|---|---|---|---|---|"]
    for m in davit_rows:
        for r in m["rows"]:
            a = r.get("anon_by_mapping")
            if a:
                where.append(f"| {m['label']} | {r['role']} | {a['binary']} kB | {a['heap']} kB | "
                             f"{a['stack']} kB | {a['other']} kB |")
    settle = env.get("BENCH_SETTLE", "2")
    return f"""## 3. Management memory

What it costs to keep idle apps (busybox `sleep 1000`) managed: the sum over the managing
processes, never the containers' own, of `/proc/PID/smaps_rollup`'s **Pss_Anon** (anonymous
memory, shared pages split among the processes that map them: with no swap, what the board
can never reclaim), **Private_Dirty** and **Pss**, and the threads (`/proc/PID/status`).
1 kB = 1024 bytes as the kernel counts, 1 MB = 1000 kB.

Goals:

{chr(10).join(goals)}

{chr(10).join(lines)}

Per app: for davit, the growth over the smallest run divided by the added apps; for the
others, the mean of the process each container brings (a conmon, a shim).

Which processes: **davit**, the `davit supervise` process (found by its command line, the
only one whose parent is not another such process) and its launcher (its child with the same
command line; the daemon's other children are the apps' inits, it is their subreaper);
**podman**, the `conmon`s whose command line names this run's storage (podman has no daemon);
**containerd**, `containerd` and the `containerd-shim-runc-v2`s of namespace `default`
(`ctr run -d`); **docker**, `dockerd`, the containerd it runs on and the shims of namespace
`moby`. Each manager is measured alone and freshly started (davit once per app count, with a
new state directory; containerd started anew for ctr and again for docker). The sample is taken
once every container has exec'd `sleep` (and davit's API shows every app `running`; bounded
waits), after {settle} s more to settle. Apps and containers as in table 2 (davit's with
`enabled = true`; `--network none`; podman with crun, the others with runc).

{chr(10).join(detail)}

Where davit's anonymous memory is (`/proc/PID/smaps`, each mapping's `Anonymous`: pages the
launcher still shares with the daemon since the fork count in both rows here, once in the
Pss_Anon sums above). The binary's writable mappings hold what the loader relocates at start
(a static-pie executable: `.data.rel.ro`, `.got`) besides `.data` and `.bss`.

{chr(10).join(where)}"""


# ---- verdict ----
def verdict(data, method):
    out = []
    for mode in MODES:
        r = data[f"davit lifecycle {mode}"]["median"] / data[f"crun lifecycle {mode}"]["median"]
        out.append(f"{mode} {r:.2f}x ({'met' if r <= 1.0 else 'not met'})")
    return f"{method}: " + ", ".join(out)


def peer_versions():
    def word(cmd, i):  # the i-th word of a version line
        w = sh(*cmd).split()
        return w[i] if len(w) > i else "?"

    v = [f"containerd and ctr {word(('containerd', '--version'), 2)}", sh("podman", "--version"),
         f"conmon {word(('conmon', '--version'), 2)}",
         "dockerd " + sh("dockerd", "--version").replace("Docker version ", ""),
         "docker client (`/usr/bin/docker`) " + sh("/usr/bin/docker", "--version").replace("Docker version ", "")]
    return "; ".join(x for x in v if x)


# The benchmark itself keeps ~1 CPU busy; more than a quarter of the machine on top is "busy".
loads = [float(env[k].split()[0]) for k in ("BENCH_LOAD_START", "BENCH_LOAD_END")]
try:
    loads += [float(x) for x in open(f"{work}/load.samples").read().split()]
except OSError:
    pass
load_note = f"1-min load during the measurement: max {max(loads):.2f}, mean {sum(loads) / len(loads):.2f}."
busy = (f"\n**The machine was busy** (1-min load up to {max(loads):.2f} on {nproc} CPUs, the benchmark "
        "itself accounting for ~1): spreads are wide and ratios within ~0.1x of each other are not a "
        "difference; re-run when idle.\n" if max(loads) >= 1 + 0.25 * nproc else "")
with open(f"{work}/subtitle", "w") as f:
    subtitle = (f"{env['BENCH_DATE']} - {nproc} x {cpu}, Linux {kernel}, "
                f"1-min load up to {max(loads):.2f} - hyperfine median, bars: IQR")
    f.write(subtitle.replace("'", ""))
runs = hyper["davit lifecycle warm"]["n"]
rounds = rr["davit lifecycle warm"]["n"]
md = f"""# davit benchmarks

Written by `testbeds/bench/run.sh` on {env['BENCH_DATE']}. Do not edit by hand: re-run the script.

**Machine**: {nproc} CPUs ({cpu}), {mem_total()} RAM, {os_name()}, Linux {kernel}.
cgroup layout: {cgroup_layout()}. {layout_seen}.
Load average (1/5/15 min) at start: {env['BENCH_LOAD_START']}; at end: {env['BENCH_LOAD_END']}; {load_note}
(a noisy VM, shared with compiles: compare the runtimes with each other, not across runs).
Measurement took {env['BENCH_ELAPSED']} s.
{busy}
**Binaries**: {sh(davit, '--version').splitlines()[0]} (sha256 `{sha256(davit)[:16]}…`, repo at
`{git_rev}`{git_dirty}); {sh('crun', '--version').splitlines()[0]}; {sh('runc', '--version').splitlines()[0]};
{sh('hyperfine', '--version')}; {peer_versions()}. `RUST_BACKTRACE` unset (it costs davit ~1.2 ms per run).

## 1. Lifecycle latency

A busybox container running `/bin/true` (`terminal: false`, read-only rootfs shared by all
runtimes; each runtime has its own bundle directory whose `config.json` differs only in
`linux.cgroupsPath` = `/bench/<runtime>`, and its own `--root` state directory).

Goal: davit <= 1.0x crun for `create; start; delete`.
{verdict(hyper, "hyperfine")}; {verdict(rr, "round-robin")}.

`run; delete -f`, warm, against crun with the same config ("Where the time goes" below):
{seccomp_headline()}.

![latency chart](latency.svg)

### hyperfine ({runs} runs per command after {env['BENCH_WARMUP']} warm-up runs, one invocation)

{latency_table(hyper, "hyperfine subtracts the spawn time of its `sh -c`.")}

### Round-robin cross-check ({rounds} rounds)

{latency_table(rr, "Each round runs all 12 cycles in a shuffled order, the commands spawned directly by Python (no shell) and timed with `perf_counter_ns`.")}

### Where the time goes

{breakdown_section()}

### How it is measured, and why

- **Same cgroup layout for all**: crun 1.8.1 refuses this host's hybrid layout ("cgroups in
  hybrid mode not supported"), so the whole measurement (hyperfine and the round-robin loop)
  runs inside `unshare --mount --propagation private` with an empty tmpfs mounted over
  `/sys/fs/cgroup/unified`. davit and runc run with either layout; all three see the v1 one.
- **Warm and cold**: on cgroup v1 the first `cgroup.procs` write after ~100 ms without any
  costs the kernel ~11-15 ms (every runtime alike); later writes ~0.1 ms. hyperfine runs each
  command's runs back to back, so without control, whichever command happens to run right
  after another cgroup write wins. Each command therefore has its own `--prepare`:
  *warm* writes the preparing shell's pid to a dummy cgroup's `cgroup.procs` just before each
  run (the runtime's own cgroup writes are then cheap); *cold* sleeps {env['BENCH_COLD_SLEEP']} s
  before each run (no cgroup write), so the runtime pays the slow first write itself. Real use
  sees both: a burst of container starts is warm, a lone start on an idle board is cold.
- **Same bundle, with a seccomp filter**: the config is `davit spec`'s, which carries davit's
  default seccomp profile (`seccomp-profiles/default.json`, for x86_64, x86 and x32), as apps
  get it. crun and runc compile it with libseccomp at every create. davit compiles a profile
  once and keeps the BPF program under its state root (`runtime/src/seccomp_cache.rs`); the
  warm-up runs of each command pay that compile, the timed runs load the stored program. The
  breakdown above times the compile separately (cache emptied before each run).
- **Cleanup**: a fixed container id per runtime (`bench`); the command deletes its own
  container, and hyperfine's `--setup` deletes leftovers of an interrupted run.
  `delete --force` for every runtime: `start` of `/bin/true` returns while the process may still
  be exiting, and a plain `delete` of a not-yet-stopped container fails.
  The steps are chained with `&&` so a failing step fails the benchmark instead of being timed.
- **Interleaving**: hyperfine cannot interleave commands, so the round-robin table repeats
  the measurement with every round running all runtimes in a shuffled order: load drift on
  this noisy machine hits all runtimes alike. Its absolute numbers differ from hyperfine's by
  the spawn method; compare the ratios.
- The benchmarked davit is a copy of `$DAVIT_BIN` taken at the start (a concurrent build may
  replace the original). Raw data: `$DAVIT_CACHE/bench/` (`hyperfine.json`, `roundrobin.json`).

### All samples (hyperfine)

{detail_table(hyper)}

### All samples (round-robin)

{detail_table(rr)}

{start_section()}

{memory_section()}

## 4. Binary size

Stripped release binaries; MB = 10^6 bytes. crun is measured alone and with the shared
libraries `ldd` resolves for it (libc included, although other programs share it). Debian's
runc is a Go binary linked dynamically against libc and libseccomp, so it gets the same treatment.
davit is one static binary: its row is everything it needs.

{size_table()}

Each crate's share of the whole binary, from the symbol table of the same build kept unstripped
(`crates.py`: a symbol counts for the first crate its name names, `core`/`alloc`/`std` skipped, so
a generic instantiated for a crate's type counts for that crate; C libraries by symbol prefix).

{crate_sections()}

## 5. The update engine (`install.sh`)

{install_table()}

Images built with umoci from Debian's busybox-static: a base and apps a and b with a 1 MiB
layer of their own each. The update is a one-app release installed through a running
`davit supervise` (images into the store, bundles, the journaled switch, the app confirmed as
running, no watch window), back and forth between two versions of a, so that each install
stores and unpacks a layer again after the previous collection dropped it. davit keeps each
layer twice, as its compressed blob and unpacked (podman keeps it unpacked only).
"""
with open(out_md, "w") as f:
    f.write(md)
