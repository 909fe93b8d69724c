//! Start order: conditions are waited for, and a cycle fails only the apps on it.

use std::fs;

use crate::harness::*;

#[test]
fn a_dependent_starts_once_its_dependency_completed_successfully() {
    let mut d = Daemon::new();
    // `first` takes its time before it writes: were `second` started without waiting for
    // first's exit, it would write its line first.
    d.add_app(
        "first",
        "sleep 0.5; echo first >> /shared/order; exit 0",
        "",
    );
    d.add_app(
        "second",
        "echo second >> /shared/order",
        "[depends_on]\nfirst = { condition = \"service_completed_successfully\" }\n",
    );
    d.start();
    let second = d.wait_state("second", "exited", 30);
    let first = d.status("first");
    assert_eq!(first["state"], "exited", "{first}");
    assert_eq!(first["last_exit"], "exited 0", "{first}");
    assert_eq!(second["last_exit"], "exited 0", "{second}");
    assert_eq!(
        fs::read_to_string(d.shared.join("order")).unwrap(),
        "first\nsecond\n"
    );
}

#[test]
fn a_dependency_cycle_fails_its_apps_and_only_them() {
    let mut d = Daemon::new();
    d.add_app(
        "cyc-a",
        "echo a >> /shared/ran; exec sleep 1000",
        "depends_on = [\"cyc-b\"]\n",
    );
    d.add_app(
        "cyc-b",
        "echo b >> /shared/ran; exec sleep 1000",
        "depends_on = [\"cyc-a\"]\n",
    );
    d.add_app("free-c", "exec sleep 1000", "");
    d.start();
    let c = d.wait_state("free-c", "running", 30);
    let pid = num(&c, "pid") as i32;
    assert!(alive(pid), "free-c's pid {pid} is not alive: {c}");
    for name in ["cyc-a", "cyc-b"] {
        let s = d.wait_state(name, "failed", 10);
        assert!(
            text(&s, "reason").contains("dependency cycle"),
            "{name}: reason should name the dependency cycle: {s}"
        );
        assert_eq!(num(&s, "pid"), 0, "{s}");
    }
    // Nothing of the cycle ever ran: no container, no line.
    assert_eq!(d.containers(), vec!["app.free-c".to_owned()]);
    assert!(
        !d.shared.join("ran").exists(),
        "an app on the cycle ran: {:?}",
        fs::read_to_string(d.shared.join("ran"))
    );
}
