//! cgroup limits that the kernel enforces on a running container (an OOM kill, CPU
//! throttling), and `kill --all`, which reaches what a plain kill of the init does not.
//! Peer behaviour: every test here also runs with `DAVIT_TEST_BIN=/usr/sbin/runc`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::json;

fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
        .trim()
        .to_owned()
}

/// The value of `key` in a flat "key value" cgroup file (memory.oom_control, cpu.stat, ...).
fn stat(dir: &Path, file: &str, key: &str) -> u64 {
    let text = read(dir, file);
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {}/{file}: {text}", dir.display()))
}

/// Pids whose command line is exactly `words` (a shell that merely mentions them is not
/// counted, as `processes_with` would).
fn processes_running(words: &str) -> Vec<i32> {
    processes_with(words)
        .into_iter()
        .filter(|p| {
            fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c)
                    .trim_end_matches('\0')
                    .replace('\0', " ")
                    == words
            })
        })
        .collect()
}

fn alive(pid: i32) -> bool {
    // A zombie has done all the dying a signal can make it do.
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, r)| !r.starts_with('Z'))
    })
}

#[test]
fn oom_kill_gives_exit_137_and_the_kernel_counts_the_oom_kill() {
    // `tail` of an endless line keeps all of it in memory, so it meets the limit, and the
    // kernel's OOM killer (not davit) kills the container's init.
    let b = Bundle::new(&["tail", "/dev/zero"]);
    let limit = 16 << 20;
    b.edit(|c| {
        c["linux"]["resources"] = json!({"memory": {"limit": limit, "swap": limit}});
    });
    // --keep leaves the stopped container, and with it the cgroup whose counters we read.
    let out = output_within(
        b.cmd(&[
            "run",
            "--keep",
            "--bundle",
            b.path().to_str().unwrap(),
            &b.id,
        ]),
        120,
        "run of a container that exceeds its memory limit",
    );
    assert_eq!(
        out.status.code(),
        Some(137),
        "run must exit 128+SIGKILL: {}",
        stderr(&out)
    );
    assert_eq!(b.status(), "stopped");
    let mem = b.cgroup_dir("memory");
    if cgroup_v2() {
        assert!(stat(&mem, "memory.events", "oom_kill") >= 1);
    } else {
        // The kernel's own record that the OOM killer acted in this cgroup, not a kill by
        // anyone else (which would also give 137).
        assert!(
            stat(&mem, "memory.oom_control", "oom_kill") >= 1,
            "{}",
            read(&mem, "memory.oom_control")
        );
    }
    b.must(&["delete", &b.id]);
    b.assert_nothing_left("tail /dev/zero");
}

#[test]
fn a_cpu_quota_throttles_a_busy_loop() {
    let b = Bundle::new(&["sh", "-c", "while :; do :; done; echo 31441"]);
    b.edit(|c| {
        c["linux"]["resources"] = json!({"cpu": {"quota": 10000, "period": 100000}});
    });
    let (ok, err) = b.create(&[]);
    assert!(ok, "create: {err}");
    let cpu = b.cgroup_dir("cpu");
    // cpu.stat has nr_throttled on v1 and v2 alike.
    let throttled = || stat(&cpu, "cpu.stat", "nr_throttled");
    assert_eq!(throttled(), 0, "throttled before the loop ran");
    b.must(&["start", &b.id]);
    // A loop that wants a whole CPU gets 10 ms of every 100 ms period: the kernel throttles
    // it in nearly every period, and counts each one.
    wait_until(30, "the kernel to throttle the loop", || throttled() >= 3);
    let first = throttled();
    wait_until(30, "throttling to go on", || throttled() > first);
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("echo 31441");
}

/// The host's first whole disk as "major:minor", for a blkio throttle rule.
fn a_disk() -> Option<String> {
    let parts = fs::read_to_string("/proc/partitions").ok()?;
    parts.lines().skip(2).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // Minor 0 of a non-zram device: a whole disk, which blkio throttles.
        (f.len() == 4 && f[1] == "0" && !f[3].starts_with("zram") && !f[3].starts_with("loop"))
            .then(|| format!("{}:{}", f[0], f[1]))
    })
}

#[test]
fn blkio_limits_land_in_the_cgroup() {
    // What is asserted is that the throttle and weight rules reach the kernel. Observing the
    // throttle bite would mean timing direct reads of a host disk from inside the container,
    // and these tests never assert timings; the kernel applies whatever these files say.
    let Some(disk) = a_disk() else {
        eprintln!("no whole disk in /proc/partitions: nothing for blkio to throttle");
        return;
    };
    if cgroup_v2() || !Path::new("/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device").exists() {
        eprintln!("no cgroup v1 blkio throttle files here");
        return;
    }
    let (major, minor) = disk.split_once(':').unwrap();
    let (major, minor): (i64, i64) = (major.parse().unwrap(), minor.parse().unwrap());
    let b = Bundle::new(&["sleep", "31442"]);
    b.edit(|c| {
        c["linux"]["resources"] = json!({"blockIO": {
            "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
            "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 300}]
        }});
    });
    let (ok, err) = b.create(&[]);
    assert!(ok, "create: {err}");
    let d = b.cgroup_dir("blkio");
    assert_eq!(
        read(&d, "blkio.throttle.read_bps_device"),
        format!("{disk} 1048576")
    );
    assert_eq!(
        read(&d, "blkio.throttle.write_iops_device"),
        format!("{disk} 300")
    );
    let procs = read(&d, "cgroup.procs");
    assert!(
        procs.lines().any(|p| p == b.pid().to_string()),
        "the init is not in the blkio cgroup: {procs}"
    );
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31442");
}

/// A container in the host's pid namespace whose init (`sleep A`) has a child (`sleep B`)
/// that survives the init: nothing kills a pid namespace's other processes with its init
/// here, because there is no such namespace.
fn host_pid_container(a: &str, b_: &str) -> Bundle {
    let b = Bundle::new(&["sh", "-c", &format!("sleep {b_} & exec sleep {a}")]);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    b
}

#[test]
fn kill_all_reaches_what_outlives_the_init_in_the_host_pid_namespace() {
    let b = host_pid_container("31443", "31444");
    let (ok, err) = b.create(&[]);
    assert!(ok, "create: {err}");
    b.must(&["start", &b.id]);
    wait_until(20, "both processes to run", || {
        processes_running("sleep 31443").len() == 1 && processes_running("sleep 31444").len() == 1
    });
    let child = processes_running("sleep 31444")[0];
    let init = b.pid();

    // A plain kill signals the init alone: its child lives on, in the container's cgroup.
    b.must(&["kill", &b.id, "KILL"]);
    assert!(exits_within(init, 20), "the init survived SIGKILL");
    wait_until(20, "the container to be stopped", || {
        b.status() == "stopped"
    });
    assert!(alive(child), "a plain kill reached the init's child");
    let procs = read(&b.cgroup_dir("devices"), "cgroup.procs");
    assert!(
        procs.lines().any(|p| p == child.to_string()),
        "the child left the cgroup: {procs}"
    );

    // --all signals every process of the cgroup, even with the init gone.
    let out = output_within(b.cmd(&["kill", "--all", &b.id, "KILL"]), 20, "kill --all");
    assert!(out.status.success(), "kill --all: {}", stderr(&out));
    wait_until(20, "kill --all to kill the child", || !alive(child));
    b.must(&["delete", &b.id]);
    b.assert_nothing_left("sleep 31443");
    b.assert_nothing_left("sleep 31444");
}

/// Sub-cgroups made under a container's own, removed (emptied) when dropped so that a failed
/// test leaves nothing in the host's hierarchies.
struct SubCgroups(Vec<PathBuf>);

impl Drop for SubCgroups {
    fn drop(&mut self) {
        for d in &self.0 {
            kill_cgroup_procs(d);
            let _ = fs::remove_dir(d);
        }
    }
}

#[test]
fn kill_all_reaches_processes_in_a_sub_cgroup() {
    // As a container that manages its own cgroup tree (systemd inside, a nested runtime)
    // leaves it: a process moved into a child cgroup of the container's, in every hierarchy
    // that lists processes.
    let b = host_pid_container("31445", "31446");
    let (ok, err) = b.create(&[]);
    assert!(ok, "create: {err}");
    b.must(&["start", &b.id]);
    wait_until(20, "both processes to run", || {
        processes_running("sleep 31446").len() == 1
    });
    let child = processes_running("sleep 31446")[0];
    let ctls: &[&str] = if cgroup_v2() {
        &[""]
    } else {
        &["devices", "freezer", "memory", "pids", "cpu"]
    };
    let mut subs = SubCgroups(Vec::new());
    for ctl in ctls {
        let sub = b.cgroup_dir(ctl).join("sub");
        fs::create_dir(&sub).unwrap();
        subs.0.push(sub.clone());
        fs::write(sub.join("cgroup.procs"), child.to_string()).unwrap();
    }
    let init = b.pid();
    let out = output_within(b.cmd(&["kill", "--all", &b.id, "KILL"]), 20, "kill --all");
    assert!(out.status.success(), "kill --all: {}", stderr(&out));
    assert!(exits_within(init, 20), "kill --all missed the init");
    wait_until(20, "kill --all to reach the sub-cgroup", || !alive(child));
    let out = output_within(b.cmd(&["delete", "--force", &b.id]), 30, "delete");
    assert!(
        out.status.success(),
        "delete of a container with a sub-cgroup: {}",
        stderr(&out)
    );
    b.assert_nothing_left("sleep 31445");
    b.assert_nothing_left("sleep 31446");
}
