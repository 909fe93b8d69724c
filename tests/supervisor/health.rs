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
use std::time::Instant;

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
    let mut d = Daemon::new();
    d.add_app(
        "mute",
        "touch /shared/up; exec sleep 1000",
        "notify = true\nstart_timeout = \"2s\"\n",
    );
    let t0 = Instant::now();
    d.start();
    wait_until(20, "the app to run", || d.shared.join("up").exists());
    // It runs, with no READY=1: starting, its pid known.
    let s = d.wait_status("mute", 5, "starting with a pid", |s| {
        s["state"] == "starting" && s["pid"].as_u64().is_some_and(|p| p > 0)
    });
    assert!(alive(num(&s, "pid") as i32), "{s}");
    let failed = d.wait_state("mute", "failed", 20);
    assert!(
        t0.elapsed().as_millis() >= 2000,
        "failed before its start_timeout: {failed}"
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
    let mut d = Daemon::new();
    d.add_app(
        "ready",
        &notifier("touch /shared/up; while [ ! -e /shared/go ]; do sleep 0.05; done"),
        "notify = true\nstart_timeout = \"30s\"\n",
    );
    with_host_usr(&d, "ready");
    d.start();
    wait_until(20, "the app to run", || d.shared.join("up").exists());
    // It runs but has not said READY=1: still starting.
    let s = d.status("ready");
    assert_eq!(s["state"], "starting", "{s}");
    fs::write(d.shared.join("go"), "").unwrap();
    let running = d.wait_state("ready", "running", 20);
    assert_eq!(num(&running, "pid"), num(&s, "pid"), "{running}");
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
    let mut d = Daemon::new();
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

    fs::write(d.shared.join("db.healthy"), "").unwrap();
    d.wait_status("db", 20, "healthy", |s| s["health"] == "healthy");
    d.wait_state("web", "running", 20);
    wait_until(10, "web to run", || d.shared.join("web.up").exists());
}
