//! Restarts: the backoff between a failure and the next start grows, a crash loop ends in
//! `failed`, and a user's restart starts the app again.

use std::fs;

use crate::harness::*;

/// The delays (ms) between each exit and the start that follows it, from the State changes
/// the bus carried: an exit is the first change away from starting/running, the start the
/// next `starting`.
fn restart_delays(states: &[(u64, String)]) -> Vec<u64> {
    let mut delays = Vec::new();
    let mut exited_at = None;
    let mut prev = "";
    for (t, s) in states {
        let up = |s: &str| s == "starting" || s == "running";
        if up(prev) && !up(s) {
            exited_at = Some(*t);
        }
        if s == "starting"
            && let Some(e) = exited_at.take()
        {
            delays.push((t - e) / 1000);
        }
        prev = s;
    }
    delays
}

#[test]
fn a_crash_loop_backs_off_then_fails_until_restarted() {
    let mut d = Daemon::with_bus();
    // Fails at once until the test creates /shared/ok; then it runs.
    d.add_app(
        "crasher",
        "[ -e /shared/ok ] && exec sleep 1000; exit 1",
        "restart = \"always\"\n\
         backoff = { initial = \"200ms\", max = \"2s\" }\n\
         crash_loop = { failures = 4, window = \"1m\" }\n",
    );
    let monitor = d.monitor();
    d.start();
    let failed = d.wait_state("crasher", "failed", 30);
    assert!(
        text(&failed, "reason")
            .to_lowercase()
            .contains("crash loop"),
        "the reason should name the crash loop: {failed}"
    );
    assert_eq!(failed["last_exit"], "exited 1", "{failed}");
    // 4 failures within the window: the first start and 3 restarts.
    assert_eq!(num(&failed, "restarts"), 3, "{failed}");
    assert_eq!(num(&failed, "pid"), 0, "{failed}");

    // The signal of the change to `failed` may trail the status the client saw.
    crate::common::wait_until(5, "the bus to carry State failed", || {
        monitor
            .states("crasher")
            .last()
            .is_some_and(|(_, s)| s == "failed")
    });
    let states = monitor.states("crasher");
    let delays = restart_delays(&states);
    assert_eq!(
        delays.len(),
        3,
        "3 restarts, each after a backoff: delays {delays:?} from {states:?}"
    );
    // 200 ms doubling (with jitter), capped at 2 s: about 200, 400, 800.
    assert!(
        delays[0] >= 100,
        "the first backoff was {} ms, for an initial 200ms: {states:?}",
        delays[0]
    );
    assert!(
        delays.windows(2).all(|w| w[1] > w[0]),
        "the backoff did not grow: {delays:?} ms, from {states:?}"
    );
    assert!(
        delays.iter().all(|&ms| ms < 2000 + 1000),
        "a backoff went well past its 2 s cap: {delays:?}"
    );

    // A failed app stays down until someone restarts it.
    assert_eq!(d.status("crasher")["state"], "failed");
    fs::write(d.shared.join("ok"), "").unwrap();
    d.app_ok(&["restart", "crasher"]);
    let running = d.wait_state("crasher", "running", 20);
    let pid = num(&running, "pid") as i32;
    assert!(alive(pid), "crasher's pid {pid} is not alive: {running}");
    assert!(
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.starts_with("sleep\x001000")),
        "pid {pid} is not the app's sleep"
    );
}
