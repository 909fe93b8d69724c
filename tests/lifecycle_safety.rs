//! What a daemon driving davit relies on: the container's init named by pid *and* start
//! time, a pidfd for it with its exit status, honest statuses, and a container process that
//! inherits nothing of its caller.

mod common;

use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::Stdio;

use common::*;
use runtime::forking::{REPORT_FD_ENV, Report};
use runtime::{ExitStatus, try_wait};

fn running(b: &Bundle) {
    assert!(b.create(&[]).0);
    b.must(&["start", &b.id]);
}

#[test]
fn a_pid_that_no_longer_names_the_init_is_never_the_container() {
    // Simulates pid reuse: the recorded start time no longer matches the process at that
    // pid. Before, davit trusted the pid alone: `state` said running and `kill` signalled
    // whatever process had the pid.
    let b = Bundle::new(&["sleep", "31310"]);
    running(&b);
    let pid = b.pid();
    let init = b.root.join(&b.id).join("init.json");
    let mut rec: serde_json::Value = serde_json::from_slice(&fs::read(&init).unwrap()).unwrap();
    assert_eq!(rec["pid"], pid, "{rec}");
    rec["start_time"] = serde_json::json!(rec["start_time"].as_u64().unwrap() + 1);
    fs::write(&init, rec.to_string()).unwrap();

    let s = b.state();
    assert_eq!(s["status"], "stopped", "{s}");
    assert_eq!(s["pid"], 0, "{s}");
    let out = b.davit(&["kill", &b.id, "KILL"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is stopped"), "{}", stderr(&out));
    assert!(
        fs::read_to_string(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.contains("31310")),
        "kill reached the process behind a pid it no longer owns"
    );
    b.must(&["delete", &b.id]);
    b.assert_nothing_left("sleep 31310");
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe().unwrap()
}

/// The report line on `r`, waiting at most 10 s for it.
fn read_report(r: OwnedFd) -> Report {
    let mut pfd = [nix::poll::PollFd::new(
        r.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let n = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(10_000u16)).unwrap();
    assert_eq!(n, 1, "no report within 10 s");
    Report::read(fs::File::from(r))
        .unwrap()
        .expect("a report line")
}

#[test]
fn create_reports_the_init_whose_pidfd_gives_its_exit_status_to_the_subreaper() {
    // What the supervisor does: it is the init's subreaper, takes the process from create's
    // report, opens a pidfd checked against its start time, and reaps it through that pidfd.
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let b = Bundle::new(&["sh", "-c", "exit 7"]);
    let (r, w) = pipe();
    let mut c = b.cmd(&["create", "--bundle", b.path().to_str().unwrap(), &b.id]);
    // Files, not pipes, for stdio: the container's init inherits them.
    let err = b.path().join("create.err");
    c.env(REPORT_FD_ENV, w.as_raw_fd().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err).unwrap());
    let ok = c.status().unwrap().success();
    drop(w);
    assert!(ok, "{}", fs::read_to_string(&err).unwrap());
    let report = read_report(r);
    let Report::Ok {
        process: Some(init),
        ..
    } = report
    else {
        panic!("{report:?}");
    };
    assert_eq!(init.pid, b.pid());
    let pidfd = init.open_pidfd().unwrap().expect("the init is alive");
    assert_eq!(
        try_wait(pidfd.as_fd()).unwrap(),
        None,
        "not exited before start"
    );
    b.must(&["start", &b.id]);
    assert!(exits_within(init.pid, 20), "the init did not exit");
    assert_eq!(
        try_wait(pidfd.as_fd()).unwrap(),
        Some(ExitStatus::Exited(7))
    );
    assert_eq!(b.status(), "stopped");
    b.must(&["delete", &b.id]);
}

#[test]
fn a_failed_command_reports_its_error_kind() {
    let b = Bundle::new(&["true"]);
    let (r, w) = pipe();
    let mut c = b.cmd(&["start", "no-such-container"]);
    c.env(REPORT_FD_ENV, w.as_raw_fd().to_string());
    let out = c.output().unwrap();
    drop(w);
    assert!(!out.status.success());
    let report = read_report(r);
    assert_eq!(
        report.error_kind(),
        Some(runtime::ErrorKind::NotFound),
        "{report:?}"
    );
}

fn frozen(b: &Bundle) -> bool {
    if cgroup_v2() {
        fs::read_to_string(b.cgroup_dir("").join("cgroup.events"))
            .unwrap()
            .contains("frozen 1")
    } else {
        fs::read_to_string(b.cgroup_dir("freezer").join("freezer.state")).unwrap() == "FROZEN\n"
    }
}

#[test]
fn kill_all_leaves_a_paused_container_paused() {
    // Before, libcontainer froze, signalled and thawed the cgroup while davit wrote
    // "paused" back: the processes ran while the state said paused.
    let b = Bundle::new(&[
        "sh",
        "-c",
        "trap 'exit 0' USR1; while :; do sleep 0.1; done",
    ]);
    running(&b);
    let pid = b.pid();
    // Pause only once the shell has set its trap: a pid-namespace init drops the signal.
    wait_for_handler(pid, libc::SIGUSR1);
    b.must(&["pause", &b.id]);
    b.must(&["kill", "--all", &b.id, "USR1"]);
    assert_eq!(b.status(), "paused");
    assert!(frozen(&b), "the cgroup was thawed");
    assert!(!exits_within(pid, 1), "a paused shell ran its trap");
    b.must(&["resume", &b.id]);
    // The shell takes the pending signal once it runs again, and its trap ends it.
    assert!(exits_within(pid, 20), "the signal was lost");
    assert_eq!(b.status(), "stopped");
    b.must(&["delete", &b.id]);

    let b = Bundle::new(&["sleep", "31312"]);
    running(&b);
    b.must(&["pause", &b.id]);
    b.must(&["kill", "--all", &b.id, "KILL"]);
    let pid = b.state()["pid"].as_i64().unwrap_or(0) as i32;
    if pid != 0 {
        assert!(
            exits_within(pid, 20),
            "SIGKILL did not end a paused container"
        );
    }
    assert_eq!(b.status(), "stopped");
    b.must(&["delete", &b.id]);
}

#[test]
fn the_callers_descriptors_do_not_reach_the_container() {
    // libcontainer's init is a clone of `davit create` and waits for `start` before its
    // exec: a pipe the caller left open stayed open in it until then.
    let b = Bundle::new(&["sleep", "31311"]);
    let (r, w) = pipe();
    // Inherited by davit, as a careless caller's descriptor would be.
    nix::fcntl::fcntl(
        w.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .unwrap();
    let mut c = b.cmd(&["create", "--bundle", b.path().to_str().unwrap(), &b.id]);
    let err = b.path().join("create.err");
    c.stdin(Stdio::null())
        .stdout(fs::File::create(b.path().join("out")).unwrap())
        .stderr(fs::File::create(&err).unwrap());
    let ok = c.status().unwrap().success();
    drop(w);
    assert!(ok, "{}", fs::read_to_string(&err).unwrap());
    let mut pfd = [nix::poll::PollFd::new(
        r.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let n = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(5000u16)).unwrap();
    assert_eq!(n, 1, "the pipe stays open in the created container's init");
    let mut buf = [0u8; 1];
    assert_eq!(
        fs::File::from(r).read(&mut buf).unwrap(),
        0,
        "expected end-of-file"
    );
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31311");
}

#[test]
fn container_processes_start_with_their_callers_signal_dispositions() {
    // Rust ignores SIGPIPE in its own processes, and an ignored signal stays ignored across
    // exec: every container process inherited davit's (`yes | head` never ended). A
    // container must see what its caller had, nothing of davit's own.
    let probe = ["sh", "-c", "grep SigIgn /proc/self/status"];
    // The same busybox as in the container: its sh ignores SIGQUIT itself.
    let direct = std::process::Command::new(BUSYBOX)
        .args(probe)
        .output()
        .unwrap();
    let b = Bundle::new(&probe);
    let out = b.davit(&["run", "--bundle", b.path().to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), stdout(&direct));
    let mask =
        u64::from_str_radix(stdout(&out).trim().trim_start_matches("SigIgn:\t"), 16).unwrap();
    assert_eq!(
        mask & (1 << (13 - 1)),
        0,
        "SIGPIPE ignored in the container"
    );
}
