//! Stopping: the daemon's SIGTERM stops every app in reverse dependency order and leaves
//! nothing behind; `davit app stop` stops one app.

use std::fs;

use crate::common::{exits_within, processes_with, wait_for_handler};
use crate::harness::*;

/// A shell that says "stopped NAME" when it gets SIGTERM, after `delay` seconds, and exits
/// 0. The trap is required: a shell as pid 1 of its namespace drops a signal it has no
/// handler for. `marker` is a comment that stays in the shell's command line.
fn stoppable(name: &str, delay: &str, marker: &str) -> String {
    format!(
        "trap 'sleep {delay}; echo stopped {name} >> /shared/stops; exit 0' TERM; \
         while true; do sleep 0.1; done # {marker}"
    )
}

/// Waits until app `name` runs and its shell has its TERM trap; returns its pid.
fn running_with_trap(d: &Daemon, name: &str) -> i32 {
    let s = d.wait_state(name, "running", 30);
    let pid = num(&s, "pid") as i32;
    wait_for_handler(pid, libc::SIGTERM);
    pid
}

#[test]
fn sigterm_stops_dependents_first_and_leaves_nothing() {
    let mut d = Daemon::new();
    let marker = unique("stopall");
    // The dependent takes 0.5 s to stop: stopped in parallel, the dependency would write
    // its line first.
    d.add_app("base", &stoppable("base", "0", &marker), "");
    d.add_app(
        "top",
        &stoppable("top", "0.5", &marker),
        "depends_on = [\"base\"]\n",
    );
    d.start();
    running_with_trap(&d, "base");
    running_with_trap(&d, "top");
    assert_eq!(processes_with(&marker).len(), 2);

    let status = d.terminate(30);
    assert!(
        status.success(),
        "the daemon should exit 0 after SIGTERM: {status}\n{}",
        d.log_tail()
    );
    assert_eq!(
        fs::read_to_string(d.shared.join("stops")).unwrap_or_default(),
        "stopped top\nstopped base\n",
        "the dependent must be stopped before its dependency"
    );
    assert_eq!(d.containers(), Vec::<String>::new(), "containers left");
    for name in ["base", "top"] {
        let left = cgroup_dirs(d.bundle_of(name));
        assert!(left.is_empty(), "{name}: cgroups left: {left:?}");
    }
    assert_eq!(
        processes_with(&marker),
        Vec::<i32>::new(),
        "app processes left"
    );
    assert_eq!(
        d.own_processes(),
        Vec::<i32>::new(),
        "processes of the daemon (its launcher?) left"
    );
}

#[test]
fn app_stop_stops_that_app_only() {
    let mut d = Daemon::new();
    let marker = unique("stopone");
    d.add_app("one", &stoppable("one", "0", &marker), "");
    d.add_app("other", "exec sleep 1000", "");
    d.start();
    let pid = running_with_trap(&d, "one");
    let other = d.wait_state("other", "running", 30);

    d.app_ok(&["stop", "one"]);
    let s = d.wait_state("one", "stopped", 20);
    assert_eq!(num(&s, "pid"), 0, "{s}");
    assert!(exits_within(pid, 10), "one's init {pid} still runs");
    assert_eq!(
        fs::read_to_string(d.shared.join("stops")).unwrap_or_default(),
        "stopped one\n",
        "one should have got its stop signal (SIGTERM), and once"
    );
    crate::common::wait_until(10, "app.one's container to be deleted", || {
        !d.containers().contains(&"app.one".to_owned())
    });
    let left = cgroup_dirs(d.bundle_of("one"));
    assert!(left.is_empty(), "one's cgroups left: {left:?}");
    assert_eq!(processes_with(&marker), Vec::<i32>::new());

    // The other app is untouched.
    let now = d.status("other");
    assert_eq!(now["state"], "running", "{now}");
    assert_eq!(now["pid"], other["pid"], "{now}");
    assert_eq!(d.containers(), vec!["app.other".to_owned()]);
}
