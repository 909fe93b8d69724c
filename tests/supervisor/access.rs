//! Access control: an unprivileged caller may read everything but change nothing, on the bus
//! and on the socket alike.

use crate::harness::*;

const APP: &str = "guarded";

/// The mutating methods: (bus member, its arguments for dbus-send, the client's words).
const MUTATING: &[(&str, &[&str], &[&str])] = &[
    ("Start", &[], &["start", APP]),
    ("Stop", &[], &["stop", APP]),
    ("Restart", &[], &["restart", APP]),
    ("Kill", &["string:SIGKILL"], &["kill", APP, "SIGKILL"]),
    ("Freeze", &[], &["freeze", APP]),
    ("Thaw", &[], &["thaw", APP]),
    ("Enable", &[], &["enable", APP]),
    ("Disable", &[], &["disable", APP]),
    ("Reload", &["string:"], &["reload"]),
];

/// Asserts that dbus-send got org.freedesktop.DBus.Error.AccessDenied; returns its message.
fn assert_denied(out: &std::process::Output, what: &str) -> String {
    const NAME: &str = "Error org.freedesktop.DBus.Error.AccessDenied:";
    let err = crate::common::stderr(out);
    assert!(
        !out.status.success() && err.contains(NAME),
        "{what} as nobody: expected AccessDenied, got {}: {}{err}",
        out.status,
        crate::common::stdout(out)
    );
    let after = &err[err.find(NAME).unwrap() + NAME.len()..];
    after.lines().next().unwrap_or("").trim().to_owned()
}

/// The app is as it was: refused calls changed nothing.
fn assert_untouched(d: &Daemon, pid: u64) {
    let s = d.status(APP);
    assert_eq!(s["state"], "running", "{s}");
    assert_eq!(num(&s, "pid"), pid, "{s}");
    assert_eq!(num(&s, "restarts"), 0, "{s}");
    assert_eq!(s["enabled"], true, "{s}");
    assert!(alive(pid as i32));
}

#[test]
fn nobody_reads_but_may_not_change_anything() {
    let mut d = Daemon::with_bus();
    d.add_app(APP, "exec sleep 1000", "");
    d.start();
    let pid = num(&d.wait_state(APP, "running", 30), "pid");
    let path = app_path(APP);

    // Reading is open to everyone: this also shows nobody can reach both endpoints, so the
    // refusals below are the daemon's, not the file system's or the bus's.
    let out = d.app_as_nobody(&["list", "--json"]);
    assert!(
        out.status.success(),
        "nobody cannot list on the socket: {}",
        crate::common::stderr(&out)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["name"], APP, "{list}");
    let out = d.app_as_nobody(&["status", APP, "--json"]);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let out = d.busctl_as_nobody(&[
        "--json=short",
        "get-property",
        SERVICE,
        &path,
        APP_IFACE,
        "State",
    ]);
    assert!(
        out.status.success(),
        "nobody cannot read State on the bus: {}",
        crate::common::stderr(&out)
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["data"],
        "running"
    );
    let out = d.busctl_as_nobody(&["call", SERVICE, MANAGER_PATH, MANAGER_IFACE, "List"]);
    assert!(
        out.status.success() && crate::common::stdout(&out).contains(APP),
        "nobody cannot call List: {}{}",
        crate::common::stdout(&out),
        crate::common::stderr(&out)
    );

    for (member, args, words) in MUTATING {
        // dbus-send, not busctl: it prints the D-Bus error's name, busctl only its message.
        let (obj, iface) = if *member == "Reload" {
            (MANAGER_PATH, MANAGER_IFACE)
        } else {
            (path.as_str(), APP_IFACE)
        };
        let method = format!("{iface}.{member}");
        let mut call = vec![obj, method.as_str()];
        call.extend_from_slice(args);

        let dest = format!("--dest={SERVICE}");
        let on_bus: Vec<&str> = [dest.as_str()].into_iter().chain(call.clone()).collect();
        let out = d.dbus_send_as_nobody(&on_bus);
        assert_denied(&out, &format!("{member} on the bus"));
        assert_untouched(&d, pid);

        let out = d.dbus_send_peer_as_nobody(&call);
        let message = assert_denied(&out, &format!("{member} on the socket"));
        assert_untouched(&d, pid);

        // The client says why: the daemon's refusal, not a failure of some other kind.
        let out = d.app_as_nobody(words);
        let err = crate::common::stderr(&out);
        assert!(
            !out.status.success()
                && (err.contains("AccessDenied")
                    || (!message.is_empty() && err.contains(message.as_str()))),
            "davit app {words:?} as nobody: expected the daemon's AccessDenied ({message:?}), \
             got {}: {}{err}",
            out.status,
            crate::common::stdout(&out)
        );
        assert_untouched(&d, pid);
    }

    // Root may: the same calls are not refused for want of access.
    d.app_ok(&["freeze", APP]);
    d.wait_state(APP, "frozen", 10);
    d.app_ok(&["thaw", APP]);
    d.wait_state(APP, "running", 10);
}

#[test]
fn only_root_may_own_the_name_on_the_bus() {
    // The shipped policy file (the harness's bus includes it): nobody may not take the
    // daemon's name, so no one can pose as the supervisor.
    let d = Daemon::with_bus();
    let out = d.dbus_send_as_nobody(&[
        "--dest=org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus.RequestName",
        &format!("string:{SERVICE}"),
        "uint32:0",
    ]);
    assert!(
        crate::common::stderr(&out).contains("org.freedesktop.DBus.Error.AccessDenied")
            && crate::common::stderr(&out).contains("not allowed to own"),
        "nobody could ask for {SERVICE}: {}{}",
        crate::common::stdout(&out),
        crate::common::stderr(&out)
    );
    // Root may (what the daemon does).
    let out = d.busctl(&[
        "call",
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "RequestName",
        "su",
        SERVICE,
        "0",
    ]);
    assert!(
        out.status.success() && crate::common::stdout(&out).trim() == "u 1",
        "root could not own {SERVICE}: {}{}",
        crate::common::stdout(&out),
        crate::common::stderr(&out)
    );
}

/// The name of group 65534 (Debian's nogroup), from /etc/group.
fn group_65534() -> String {
    std::fs::read_to_string("/etc/group")
        .unwrap()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 3 && f[2] == "65534").then(|| f[0].to_owned())
        })
        .expect("/etc/group has a group 65534")
}

/// A user of /etc/passwd outside group 65534 (neither its primary group nor a listed
/// member): the bus refuses connections from uids it cannot look up.
fn outsider() -> Caller {
    let group = std::fs::read_to_string("/etc/group").unwrap();
    let members: Vec<&str> = group
        .lines()
        .find(|l| l.split(':').nth(2) == Some("65534"))
        .and_then(|l| l.split(':').nth(3))
        .unwrap_or("")
        .split(',')
        .collect();
    std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let (uid, gid) = (
                f.get(2)?.parse::<u32>().ok()?,
                f.get(3)?.parse::<u32>().ok()?,
            );
            (uid != 0 && gid != 0 && uid != 65534 && gid != 65534 && !members.contains(&f[0]))
                .then_some(Caller {
                    uid,
                    gid,
                    groups: &[],
                })
        })
        .expect("a user outside group 65534 in /etc/passwd")
}

/// Asserts that `who` may freeze and thaw the app over the socket.
fn may_change_on_socket(d: &Daemon, who: Caller, pid: u64) {
    for (word, state) in [("freeze", "frozen"), ("thaw", "running")] {
        let out = d.app_as(who, &[word, APP]);
        assert!(
            out.status.success(),
            "{who:?}: {word} on the socket refused: {}",
            crate::common::stderr(&out)
        );
        d.wait_state(APP, state, 10);
    }
    assert_untouched(d, pid);
}

/// Asserts that `who` may freeze and thaw the app over the bus.
fn may_change_on_bus(d: &Daemon, who: Caller, pid: u64) {
    let path = app_path(APP);
    let dest = format!("--dest={SERVICE}");
    for (member, state) in [("Freeze", "frozen"), ("Thaw", "running")] {
        let method = format!("{APP_IFACE}.{member}");
        let out = d.dbus_send_as(who, &[&dest, &path, &method]);
        assert!(
            out.status.success(),
            "{who:?}: {member} on the bus refused: {}",
            crate::common::stderr(&out)
        );
        d.wait_state(APP, state, 10);
    }
    assert_untouched(d, pid);
}

#[test]
fn members_of_the_daemon_s_group_may_change_apps() {
    let mut d = Daemon::with_bus();
    d.group = Some(group_65534());
    d.add_app(APP, "exec sleep 1000", "");
    d.start();
    let pid = num(&d.wait_state(APP, "running", 30), "pid");

    // Nobody's primary group (in /etc/passwd, and its gid) is the daemon's group.
    may_change_on_socket(&d, NOBODY, pid);
    may_change_on_bus(&d, NOBODY, pid);

    // Not in the group: refused, as before.
    let outsider = outsider();
    let out = d.app_as(outsider, &["freeze", APP]);
    assert!(
        !out.status.success(),
        "an outsider froze the app: {}",
        crate::common::stdout(&out)
    );
    let dest = format!("--dest={SERVICE}");
    let path = app_path(APP);
    let out = d.dbus_send_as(outsider, &[&dest, &path, &format!("{APP_IFACE}.Freeze")]);
    assert_denied(&out, "Freeze on the bus by an outsider");
    assert_untouched(&d, pid);

    // In the group through its supplementary groups only (as systemd's SupplementaryGroups=
    // gives them): the process's credentials are what counts.
    let member = Caller {
        groups: &[65534],
        ..outsider
    };
    may_change_on_bus(&d, member, pid);
    may_change_on_socket(&d, member, pid);
}
