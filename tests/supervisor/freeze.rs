//! Freeze and thaw: the state, the cgroup freezer and the app's own progress agree.

use std::fs;
use std::time::Duration;

use crate::common::wait_until;
use crate::harness::*;

fn counter(d: &Daemon) -> Option<u64> {
    fs::read_to_string(d.shared.join("counter"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

#[test]
fn a_frozen_app_makes_no_progress_until_thawed() {
    let mut d = Daemon::new();
    // Counts every 100 ms, each value written whole (renamed into place).
    d.add_app(
        "counter",
        "i=0; while true; do i=$((i+1)); echo $i > /shared/counter.new; \
         mv /shared/counter.new /shared/counter; sleep 0.1; done",
        "",
    );
    d.start();
    let running = d.wait_state("counter", "running", 30);
    let pid = num(&running, "pid") as i32;
    wait_until(10, "the counter to count", || {
        counter(&d).is_some_and(|n| n >= 2)
    });

    d.app_ok(&["freeze", "counter"]);
    let frozen = d.wait_state("counter", "frozen", 10);
    assert_eq!(num(&frozen, "pid") as i32, pid, "{frozen}");
    let b = d.bundle_of("counter");
    assert!(
        cgroup_frozen(b),
        "state frozen, but the cgroup freezer of {} is not FROZEN",
        b.cgroup
    );
    // An observation window, not a synchronization: running, the app writes a new value
    // every 100 ms, so 1 s of the host's clock spans about 10 of them; frozen, none. The
    // read after the window must equal the one before.
    let before = counter(&d);
    std::thread::sleep(Duration::from_secs(1));
    let after = counter(&d);
    assert_eq!(
        before, after,
        "the counter advanced while the app was frozen"
    );
    assert_eq!(d.status("counter")["state"], "frozen");

    d.app_ok(&["thaw", "counter"]);
    let thawed = d.wait_state("counter", "running", 10);
    assert_eq!(
        num(&thawed, "pid") as i32,
        pid,
        "thaw restarted the app: {thawed}"
    );
    assert!(
        !cgroup_frozen(b),
        "running again, but the cgroup is still frozen"
    );
    wait_until(10, "the counter to advance after thaw", || {
        counter(&d) > after
    });
}
