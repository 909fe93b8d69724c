//! The API's views agree with each other and with the host, and its Kill reaches the app.

use std::fs;

use serde_json::{Value, json};

use crate::common::{wait_for_handler, wait_until};
use crate::harness::*;

/// The properties of app `name` over the bus, as a status object.
fn bus_status(d: &Daemon, name: &str) -> Value {
    let props = [
        ("Name", "name"),
        ("State", "state"),
        ("Health", "health"),
        ("Pid", "pid"),
        ("Restarts", "restarts"),
        ("LastExit", "last_exit"),
        ("Reason", "reason"),
        ("Enabled", "enabled"),
    ];
    let path = app_path(name);
    let mut args = vec!["get-property", SERVICE, &path, APP_IFACE];
    args.extend(props.iter().map(|(p, _)| *p));
    let values = d.busctl_json(&args);
    assert_eq!(values.len(), props.len(), "{values:?}");
    let mut s = json!({});
    for ((_, key), v) in props.iter().zip(values) {
        s[*key] = v["data"].clone();
    }
    s
}

#[test]
fn status_properties_and_list_agree() {
    let mut d = Daemon::with_bus();
    // Names that need escaping in object paths: web_2d1, done_2ex.
    d.add_app("web-1", "exec sleep 1000", "");
    d.add_app("done.x", "exit 3", "");
    d.start();
    let web = d.wait_state("web-1", "running", 30);
    d.wait_state("done.x", "exited", 30);

    // The host's view: the pid is the container's init, the one the runtime knows.
    let pid = num(&web, "pid");
    assert!(
        fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.starts_with("sleep\x001000")),
        "pid {pid} is not web-1's sleep"
    );
    assert_eq!(web["container"], "app.web-1", "{web}");
    let st: Value = serde_json::from_slice(&d.runtime(&["state", "app.web-1"]).stdout).unwrap();
    assert_eq!(st["pid"].as_u64(), Some(pid), "{st}");
    assert!(
        web["memory"].as_u64().is_some_and(|m| m > 0),
        "a running app uses memory: {web}"
    );

    let list = d.list();
    let bus_list = d.busctl_json(&["call", SERVICE, MANAGER_PATH, MANAGER_IFACE, "List"]);
    assert_eq!(bus_list[0]["type"], "a(sssuuss)", "{bus_list:?}");
    let rows = bus_list[0]["data"][0].as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(rows.len(), 2, "{rows:?}");

    // What List() carries, which every view has; status and the properties add Enabled.
    let keys = [
        "name",
        "state",
        "health",
        "pid",
        "restarts",
        "last_exit",
        "reason",
    ];
    let pick = |v: &Value, keys: &[&str]| -> Vec<Value> {
        keys.iter()
            .map(|k| {
                v.get(*k)
                    .cloned()
                    .unwrap_or_else(|| panic!("no {k} in {v}"))
            })
            .collect()
    };
    for name in ["web-1", "done.x"] {
        let status = d.status(name);
        assert!(
            status.get("memory").is_some(),
            "status has memory: {status}"
        );
        let listed = list
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in list: {list:?}"));
        assert_eq!(
            pick(&status, &keys),
            pick(listed, &keys),
            "status --json and list --json differ: {status} / {listed}"
        );
        if let Some(enabled) = listed.get("enabled") {
            assert_eq!(enabled, &status["enabled"], "{status} / {listed}");
        }
        let props = bus_status(&d, name);
        let with_enabled: Vec<&str> = keys.iter().copied().chain(["enabled"]).collect();
        assert_eq!(
            pick(&status, &with_enabled),
            pick(&props, &with_enabled),
            "status --json and the properties differ: {status} / {props}"
        );
        let row = rows
            .iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("{name} not in List(): {rows:?}"));
        assert_eq!(
            &pick(&status, &keys),
            row.as_array().unwrap(),
            "status --json and List() differ: {status} / {row}"
        );
    }
    let done = d.status("done.x");
    assert_eq!(done["last_exit"], "exited 3", "{done}");
    assert_eq!(done["pid"], 0, "{done}");
    assert_eq!(done["health"], "", "no healthcheck, no health: {done}");

    // MemoryInUse is there and counts something for a running app.
    let mem = d.busctl_json(&[
        "get-property",
        SERVICE,
        &app_path("web-1"),
        APP_IFACE,
        "MemoryInUse",
    ]);
    assert_eq!(mem[0]["type"], "t", "{mem:?}");
    assert!(mem[0]["data"].as_u64().is_some_and(|m| m > 0), "{mem:?}");
}

#[test]
fn kill_sends_the_signal_to_the_app() {
    let mut d = Daemon::new();
    d.add_app(
        "listener",
        "trap 'echo got >> /shared/usr1' USR1; while true; do sleep 0.1; done",
        "",
    );
    d.start();
    let s = d.wait_state("listener", "running", 30);
    let pid = num(&s, "pid") as i32;
    // A pid-namespace init drops the signal until its handler is set.
    wait_for_handler(pid, libc::SIGUSR1);
    d.app_ok(&["kill", "listener", "SIGUSR1"]);
    wait_until(10, "the app to get SIGUSR1", || {
        fs::read_to_string(d.shared.join("usr1")).is_ok_and(|s| s == "got\n")
    });
    let after = d.status("listener");
    assert_eq!(after["state"], "running", "{after}");
    assert_eq!(num(&after, "pid") as i32, pid, "{after}");
}

#[test]
fn a_client_whose_reader_goes_away_ends_quietly_and_the_daemon_serves_on() {
    // `davit app logs -f web | grep -m1 ready`: grep leaves first. The client must end as
    // runc and coreutils do, by SIGPIPE without a word, not panic on its next line.
    let mut d = Daemon::new();
    d.add_app("talker", "echo ready; exec sleep 1000", "");
    d.start();
    d.wait_state("talker", "running", 30);
    wait_until(30, "talker's line in its log", || {
        d.app_ok(&["logs", "talker"]).contains("ready")
    });
    for args in [
        &["list"][..],
        &["status", "talker"],
        &["logs", "-f", "talker"],
    ] {
        let out = crate::common::output_into_closed_pipe(
            d.client(args),
            10,
            &format!("davit app {args:?}"),
        );
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out.status),
            Some(libc::SIGPIPE),
            "davit app {args:?}: {:?}, {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stderr.is_empty(), "davit app {args:?}");
    }
    assert_eq!(d.status("talker")["state"], "running");
}
