//! Readiness (sd_notify READY=1) and healthchecks.
//!
//! Not in main.rs yet: enable when notify/healthcheck land.
//!
//! busybox has nothing that sends a unix datagram (its `nc` speaks TCP/UDP only; `logger`
//! writes syslog frames to /dev/log), so the notifying apps run the host's python3: the
//! host's /usr is bind-mounted read-only into the bundle, with /lib and /lib64 linking
//! into it as on the host (Debian's merged /usr). The shell execs python3, so the READY=1
//! comes from the app's main process, as a NotifyAccess=main would want.

use std::fs;
use std::os::unix::fs::symlink;

use serde_json::json;

use crate::common::wait_until;
use crate::harness::*;

/// A script that runs `before` (shell), then sends READY=1 from the main process and sleeps.
fn notifier(before: &str) -> String {
    format!(
        "{before}; exec python3 -c 'import os, socket, time\n\
         s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
         s.connect(os.environ[\"NOTIFY_SOCKET\"])\n\
         s.send(b\"READY=1\")\n\
         time.sleep(1000)'"
    )
}

/// Gives app `name`'s bundle the host's /usr (read-only), for python3.
fn with_host_usr(d: &Daemon, name: &str) {
    let b = d.bundle_of(name);
    let rootfs = b.path().join("rootfs");
    fs::create_dir_all(rootfs.join("usr")).unwrap();
    symlink("usr/lib", rootfs.join("lib")).unwrap();
    symlink("usr/lib64", rootfs.join("lib64")).unwrap();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/usr",
            "type": "bind",
            "source": "/usr",
            "options": ["rbind", "ro"],
        }))
    });
}

#[test]
fn an_app_that_never_sends_ready_fails_after_start_timeout() {
    let mut d = Daemon::with_bus();
    d.add_app(
        "mute",
        "touch /shared/up; exec sleep 1000",
        "notify = true\nstart_timeout = \"2s\"\n",
    );
    let monitor = d.monitor();
    d.start();
    wait_until(20, "the app to run", || d.shared.join("up").exists());
    // It runs, with no READY=1: starting, its pid known.
    let s = d.wait_status("mute", 5, "starting with a pid", |s| {
        s["state"] == "starting" && s["pid"].as_u64().is_some_and(|p| p > 0)
    });
    assert!(alive(num(&s, "pid") as i32), "{s}");
    let failed = d.wait_state("mute", "failed", 20);
    wait_until(5, "the bus to carry State failed", || {
        monitor.states("mute").iter().any(|(_, s)| s == "failed")
    });
    let states = monitor.states("mute");
    let at = |state: &str| states.iter().find(|(_, s)| s == state).map(|(t, _)| *t);
    let (started, failed_at) = (at("starting").unwrap(), at("failed").unwrap());
    assert!(
        failed_at - started >= 2_000_000,
        "failed {} ms after starting, before its start_timeout of 2s: {states:?}",
        (failed_at - started) / 1000
    );
    assert!(
        !states.iter().any(|(_, s)| s == "running"),
        "running without READY=1: {states:?}"
    );
    let reason = text(&failed, "reason").to_lowercase();
    assert!(
        reason.contains("ready") || reason.contains("start_timeout"),
        "the reason should say READY=1 did not come in time: {failed}"
    );
    assert!(
        !d.containers().contains(&"app.mute".to_owned()),
        "the failed app's container is still there"
    );
}

#[test]
fn an_app_is_running_only_once_it_sent_ready() {
    let mut d = Daemon::with_bus();
    d.add_app(
        "ready",
        &notifier("touch /shared/up; while [ ! -e /shared/go ]; do sleep 0.05; done"),
        "notify = true\nstart_timeout = \"30s\"\n",
    );
    with_host_usr(&d, "ready");
    let monitor = d.monitor();
    d.start();
    wait_until(20, "the app to run", || d.shared.join("up").exists());
    // It runs but has not said READY=1: still starting.
    let s = d.status("ready");
    assert_eq!(s["state"], "starting", "{s}");
    let go = now_us();
    fs::write(d.shared.join("go"), "").unwrap();
    let running = d.wait_state("ready", "running", 20);
    assert_eq!(num(&running, "pid"), num(&s, "pid"), "{running}");
    // The bus saw it running only after the go (READY=1 comes after it).
    wait_until(5, "the bus to carry State running", || {
        monitor.states("ready").iter().any(|(_, s)| s == "running")
    });
    let states = monitor.states("ready");
    let first_running = states.iter().find(|(_, s)| s == "running").unwrap().0;
    assert!(
        first_running > go,
        "running {} ms before the app could send READY=1: {states:?}",
        (go - first_running) / 1000
    );
}

#[test]
fn an_unhealthy_app_is_restarted() {
    let mut d = Daemon::with_bus();
    d.add_app(
        "sick",
        "touch /shared/healthy; exec sleep 1000",
        "restart = \"always\"\n\
         [healthcheck]\n\
         test = [\"CMD-SHELL\", \"test -e /shared/healthy\"]\n\
         interval = \"200ms\"\n\
         timeout = \"5s\"\n\
         retries = 2\n",
    );
    let monitor = d.monitor();
    d.start();
    let healthy = d.wait_status("sick", 20, "healthy", |s| {
        s["state"] == "running" && s["health"] == "healthy"
    });
    let pid = num(&healthy, "pid");
    // The app touches the file again when restarted: healthy again.
    fs::remove_file(d.shared.join("healthy")).unwrap();
    let again = d.wait_status("sick", 30, "restarted and healthy", |s| {
        s["state"] == "running" && s["health"] == "healthy" && s["pid"] != pid
    });
    assert!(num(&again, "restarts") >= 1, "{again}");
    assert!(
        crate::common::exits_within(pid as i32, 10),
        "the unhealthy process {pid} still runs"
    );
    // Unhealthy came between the two healthy spells (polling may miss it: the restart
    // follows at once; the bus carries every change).
    let health: Vec<String> = monitor
        .property("sick", "Health")
        .into_iter()
        .filter_map(|(_, v)| v.as_str().map(str::to_owned))
        .collect();
    let first_unhealthy = health.iter().position(|h| h == "unhealthy");
    assert!(
        first_unhealthy.is_some_and(|i| health[..i].contains(&"healthy".to_owned())
            && health[i..].contains(&"healthy".to_owned())),
        "Health should go healthy, unhealthy, healthy: {health:?}"
    );
}

#[test]
fn service_healthy_waits_for_the_dependency_s_health() {
    let mut d = Daemon::with_bus();
    d.add_app(
        "db",
        "exec sleep 1000",
        "[healthcheck]\n\
         test = [\"CMD-SHELL\", \"test -e /shared/db.healthy\"]\n\
         interval = \"200ms\"\n\
         retries = 1000\n",
    );
    d.add_app(
        "web",
        "touch /shared/web.up; exec sleep 1000",
        "[depends_on]\ndb = { condition = \"service_healthy\" }\n",
    );
    let monitor = d.monitor();
    d.start();
    d.wait_state("db", "running", 20);
    // db runs but is not healthy: web waits (and its process never ran).
    let s = d.wait_state("web", "waiting", 10);
    assert_eq!(num(&s, "pid"), 0, "{s}");
    let db = d.status("db");
    assert_ne!(db["health"], "healthy", "{db}");
    assert!(
        !d.shared.join("web.up").exists(),
        "web started before db was healthy"
    );

    let healthy_from = now_us();
    fs::write(d.shared.join("db.healthy"), "").unwrap();
    d.wait_status("db", 20, "healthy", |s| s["health"] == "healthy");
    d.wait_state("web", "running", 20);
    wait_until(10, "web to run", || d.shared.join("web.up").exists());
    // On the bus: web's first start follows db's first healthy, which follows the file.
    let db_healthy = monitor
        .property("db", "Health")
        .into_iter()
        .find(|(_, h)| h == "healthy")
        .expect("the bus carried db's Health healthy")
        .0;
    let web_started = monitor
        .states("web")
        .into_iter()
        .find(|(_, s)| s == "starting")
        .expect("the bus carried web's starting")
        .0;
    assert!(
        healthy_from <= db_healthy && db_healthy <= web_started,
        "db healthy at {db_healthy}, web starting at {web_started}, the file at {healthy_from}"
    );
}

/// The host's realtime clock in µs, as busctl stamps messages.
fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

#[test]
fn an_app_whose_watchdog_stops_pinging_is_restarted() {
    let mut d = Daemon::new();
    // READY=1, then WATCHDOG=1 every 200 ms until the test says stop, then silence.
    let script = "touch /shared/up; exec python3 -c 'import os, socket, time\n\
         s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
         s.connect(os.environ[\"NOTIFY_SOCKET\"])\n\
         s.send(b\"READY=1\")\n\
         while not os.path.exists(\"/shared/stop\"):\n    s.send(b\"WATCHDOG=1\"); time.sleep(0.2)\n\
         time.sleep(1000)'";
    d.add_app(
        "pinger",
        script,
        "notify = true\nwatchdog = \"1s\"\nrestart = \"on-failure\"\nbackoff = { initial = \"100ms\", max = \"1s\" }\n",
    );
    with_host_usr(&d, "pinger");
    d.start();
    let first = d.wait_state("pinger", "running", 20);
    // Pinging every 200 ms keeps a 1 s watchdog content: the app stays up over several
    // watchdog periods (a daemon that ignored WATCHDOG=1 would kill it after 1 s).
    let t0 = std::time::Instant::now();
    wait_until(10, "three watchdog periods to pass", || {
        t0.elapsed() >= std::time::Duration::from_secs(3)
    });
    let still = d.status("pinger");
    assert_eq!(
        num(&still, "pid"),
        num(&first, "pid"),
        "restarted while pinging: {still}"
    );
    assert_eq!(num(&still, "restarts"), 0, "{still}");
    // Silence: the daemon kills it and starts it again.
    fs::write(d.shared.join("stop"), "").unwrap();
    let again = d.wait_status("pinger", 20, "a restart after the watchdog fired", |s| {
        s["restarts"].as_u64().is_some_and(|r| r >= 1)
    });
    assert!(
        text(&again, "last_exit").contains("watchdog"),
        "the last exit should name the watchdog: {again}"
    );
    assert!(
        !alive(num(&first, "pid") as i32),
        "the silent process still runs: {again}"
    );
}
