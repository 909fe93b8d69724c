//! Resource limits from config.json land in the container's cgroup and hold; pause freezes.

mod common;

use std::fs;

use common::*;
use serde_json::json;

fn read(dir: &std::path::Path, file: &str) -> String {
    fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
        .trim()
        .to_owned()
}

/// User plus system time of `pid`, in clock ticks (/proc/PID/stat fields 14 and 15).
fn cpu_ticks(pid: i32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    // Fields after the command name start at field 3 (state).
    fields[14 - 3].parse::<u64>().unwrap() + fields[15 - 3].parse::<u64>().unwrap()
}

#[test]
fn memory_pids_and_cpu_limits_are_in_the_cgroup() {
    let b = Bundle::new(&["sleep", "31300"]);
    b.edit(|c| {
        c["linux"]["resources"] = json!({
            "memory": {"limit": 33554432},
            "pids": {"limit": 17},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"}
        });
    });
    let (ok, err) = b.create(&[]);
    assert!(ok, "create: {err}");
    if cgroup_v2() {
        let d = b.cgroup_dir("");
        assert_eq!(read(&d, "memory.max"), "33554432");
        assert_eq!(read(&d, "pids.max"), "17");
        assert_eq!(read(&d, "cpu.max"), "50000 100000");
        assert_eq!(read(&d, "cpuset.cpus"), "0");
    } else {
        assert_eq!(
            read(&b.cgroup_dir("memory"), "memory.limit_in_bytes"),
            "33554432"
        );
        assert_eq!(read(&b.cgroup_dir("pids"), "pids.max"), "17");
        assert_eq!(read(&b.cgroup_dir("cpu"), "cpu.shares"), "512");
        assert_eq!(read(&b.cgroup_dir("cpu"), "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(&b.cgroup_dir("cpuset"), "cpuset.cpus"), "0");
    }
    // The container's init is in that cgroup.
    let pid = b.pid();
    let procs = read(&b.cgroup_dir("pids"), "cgroup.procs");
    assert!(procs.lines().any(|p| p == pid.to_string()), "{procs}");
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31300");
}

#[test]
fn a_fork_bomb_is_held_by_the_pids_limit() {
    let b = Bundle::new(&["sh", "-c", "bomb() { bomb | bomb & }; bomb; sleep 31301"]);
    b.edit(|c| c["linux"]["resources"] = json!({"pids": {"limit": 12}}));
    let (ok, err) = b.create(&[]);
    assert!(ok, "create: {err}");
    b.must(&["start", &b.id]);
    let d = b.cgroup_dir("pids");
    // The kernel counts every fork it refused for the limit in pids.events.
    wait_until(20, "the pids limit to refuse a fork", || {
        let ev = read(&d, "pids.events");
        ev.split_whitespace().nth(1).is_some_and(|n| n != "0")
    });
    let current: u32 = read(&d, "pids.current").parse().unwrap();
    assert!(current <= 12, "pids.current {current} exceeds the limit");
    b.must(&["delete", "--force", &b.id]);
    assert!(!d.exists());
}

#[test]
fn pause_freezes_and_resume_thaws() {
    // A shell spinning on a builtin: its CPU time grows while it runs, and only then.
    let b = Bundle::new(&["sh", "-c", "while :; do :; done; echo 31302"]);
    assert!(b.create(&[]).0);
    b.must(&["start", &b.id]);
    let pid = b.pid();
    wait_until(10, "the loop to run", || cpu_ticks(pid) > 0);

    b.must(&["pause", &b.id]);
    assert_eq!(b.status(), "paused");
    let frozen = |want: bool| {
        if cgroup_v2() {
            let ev = read(&b.cgroup_dir(""), "cgroup.events");
            ev.contains(if want { "frozen 1" } else { "frozen 0" })
        } else {
            read(&b.cgroup_dir("freezer"), "freezer.state")
                == if want { "FROZEN" } else { "THAWED" }
        }
    };
    assert!(frozen(true));
    // Frozen, the loop makes no progress: over a window many clock ticks long, its CPU time
    // stands still (a running loop gains about one tick per tick).
    let before = cpu_ticks(pid);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(cpu_ticks(pid), before, "the loop ran while paused");

    let out = b.davit(&["pause", &b.id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is paused"), "{}", stderr(&out));

    b.must(&["resume", &b.id]);
    assert_eq!(b.status(), "running");
    assert!(frozen(false));
    wait_until(10, "the loop to run again after resume", || {
        cpu_ticks(pid) > before
    });

    let out = b.davit(&["resume", &b.id]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is running: resume needs it to be paused"),
        "{}",
        stderr(&out)
    );

    // A paused container can be killed and deleted.
    b.must(&["pause", &b.id]);
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("echo 31302");
}
