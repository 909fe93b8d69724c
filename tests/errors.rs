//! Every user error gives one line on stderr, a non-zero exit, and leaves nothing behind.

mod common;

use std::fs;

use common::*;
use serde_json::json;

/// Runs `create` and returns its stderr, asserting failure, one line, and a clean host.
fn failed_create(b: &Bundle, marker: &str) -> String {
    let (ok, err) = b.create(&[]);
    assert!(!ok, "create succeeded");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("davit: error: "), "{err}");
    b.assert_nothing_left(marker);
    err
}

#[test]
fn missing_bundle() {
    let b = Bundle::new(&["sleep", "31360"]);
    let out = b.davit(&["create", "--bundle", "/nonexistent/bundle", &b.id]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "davit: error: bundle /nonexistent/bundle: no such directory\n"
    );
    b.assert_nothing_left("sleep 31360");
}

#[test]
fn unreadable_or_missing_config() {
    let b = Bundle::new(&["sleep", "31361"]);
    fs::remove_file(b.path().join("config.json")).unwrap();
    let err = failed_create(&b, "sleep 31361");
    assert!(
        err.contains("config.json: cannot read: No such file or directory"),
        "{err}"
    );
}

#[test]
fn invalid_config_names_the_field() {
    let b = Bundle::new(&["sleep", "31362"]);
    b.edit(|c| c["linux"]["resources"] = json!({"pids": {"limit": "many"}}));
    let err = failed_create(&b, "sleep 31362");
    assert!(
        err.contains("config.json: linux.resources.pids.limit: invalid type"),
        "{err}"
    );

    b.edit(|c| c["linux"]["resources"] = json!({}));
    b.edit(|c| c["process"]["args"] = json!([]));
    let err = failed_create(&b, "sleep 31362");
    assert!(err.contains("config.json: process.args: empty"), "{err}");

    fs::write(b.path().join("config.json"), "{ not json").unwrap();
    let err = failed_create(&b, "sleep 31362");
    assert!(
        err.contains("config.json: (document): key must be a string at line 1"),
        "{err}"
    );
}

#[test]
fn net_devices_are_refused_not_ignored() {
    // davit is built without libcontainer's net-devices feature (third_party/README.md).
    let b = Bundle::new(&["sleep", "31367"]);
    b.edit(|c| c["linux"]["netDevices"] = json!({"dummy0": {"name": "eth1"}}));
    let err = failed_create(&b, "sleep 31367");
    assert!(err.contains("linux.netDevices is not supported"), "{err}");
}

#[test]
fn missing_executable_fails_create_and_cleans_up() {
    let b = Bundle::new(&["/bin/no-such-program-31363"]);
    let err = failed_create(&b, "no-such-program-31363");
    assert!(err.contains("no-such-program-31363"), "{err}");
}

#[test]
fn id_already_in_use() {
    let b = Bundle::new(&["sleep", "31364"]);
    assert!(b.create(&[]).0);
    let pid = b.pid();
    let (ok, err) = b.create(&[]);
    assert!(!ok);
    assert_eq!(
        err,
        format!("davit: error: container \"{}\" already exists\n", b.id)
    );
    // The first container is untouched.
    assert_eq!(b.status(), "created");
    assert_eq!(b.pid(), pid);
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31364");
}

#[test]
fn start_needs_a_created_container() {
    let b = Bundle::new(&["sleep", "31365"]);
    assert!(b.create(&[]).0);
    b.must(&["start", &b.id]);
    let out = b.davit(&["start", &b.id]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "davit: error: container \"{}\" is running: start needs it to be created\n",
            b.id
        )
    );
    assert_eq!(b.status(), "running");

    let out = b.davit(&["start", "no-such-container"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "davit: error: container \"no-such-container\" does not exist\n"
    );
}

#[test]
fn delete_refuses_a_live_container_without_force() {
    let b = Bundle::new(&["sleep", "31366"]);
    assert!(b.create(&[]).0);
    // runtime-spec: deleting a container that is not stopped MUST fail (runc deletes it).
    let out = b.davit(&["delete", &b.id]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "davit: error: cannot delete container \"{}\": it is created; stop it first, or delete it by force\n",
            b.id
        )
    );
    assert_eq!(b.status(), "created");
    b.must(&["start", &b.id]);
    let out = b.davit(&["delete", &b.id]);
    assert!(stderr(&out).contains("it is running"), "{}", stderr(&out));
    assert_eq!(b.status(), "running");
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31366");
    // --force on a container that is already gone is not an error, as with runc.
    b.must(&["delete", "--force", &b.id]);
}

#[test]
fn unknown_signal() {
    let b = Bundle::new(&["sleep", "31346"]);
    assert!(b.create(&[]).0);
    b.must(&["start", &b.id]);
    for sig in ["SIGFOO", "99", "0"] {
        let out = b.davit(&["kill", &b.id, sig]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            stderr(&out),
            format!("davit: error: unknown signal \"{sig}\"\n")
        );
    }
    assert_eq!(b.status(), "running");
    b.must(&["delete", "--force", &b.id]);
}

#[test]
fn bad_ids_and_flags() {
    let b = Bundle::new(&["sleep", "31368"]);
    let out = b.davit(&[
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        "../escape",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid container id \"../escape\""),
        "{}",
        stderr(&out)
    );
    assert!(!b.root.join("../escape").exists());

    let out = b.davit(&["--log-format", "xml", "state", &b.id]);
    assert_eq!(
        stderr(&out),
        "davit: error: --log-format \"xml\": expected \"text\" or \"json\"\n"
    );

    let out = b.davit(&[
        "--systemd-cgroup",
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        &b.id,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("davit: error: --systemd-cgroup: "),
        "{}",
        stderr(&out)
    );
    b.assert_nothing_left("sleep 31368");
}

#[test]
fn errors_reach_the_json_log_the_way_containerd_reads_them() {
    let b = Bundle::new(&["sleep", "31369"]);
    let log = b.path().join("log.json");
    let out = b.davit(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "start",
        "absent",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert_eq!(last["msg"], "container \"absent\" does not exist");
}

#[test]
fn concurrent_deletes_both_succeed_with_force() {
    // containerd's shim and its dead-shim cleanup both delete; neither may fail.
    for round in 0..3 {
        let b = Bundle::new(&["sleep", "31390"]);
        assert!(b.create(&[]).0);
        b.must(&["start", &b.id]);
        let mut a = b.cmd(&["delete", "--force", &b.id]).spawn().unwrap();
        let mut c = b.cmd(&["delete", "--force", &b.id]).spawn().unwrap();
        assert!(a.wait().unwrap().success(), "round {round}");
        assert!(c.wait().unwrap().success(), "round {round}");
        b.assert_nothing_left("sleep 31390");
    }
}

#[test]
fn failing_poststart_and_poststop_hooks_warn_and_the_remaining_hooks_run() {
    // runtime-spec: a failing poststart or poststop hook is logged as a warning, and "the
    // remaining hooks and lifecycle continue as if the hook had succeeded".
    let b = Bundle::new(&["sleep", "31391"]);
    let ran = b.path().join("ran");
    let mark = |what: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {what} >> {}", ran.display())]});
    b.edit(|c| {
        c["hooks"] = json!({
            "poststart": [{"path": "/bin/false"}, mark("poststart")],
            "poststop": [{"path": "/bin/false"}, mark("poststop")]
        })
    });
    let log = b.path().join("log.json");
    let logged = ["--log", log.to_str().unwrap(), "--log-format", "json"];
    assert!(b.create(&[]).0);
    let out = b.davit(&[&logged[..], &["start", &b.id]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(b.status(), "running");
    assert_eq!(fs::read_to_string(&ran).unwrap(), "poststart\n");
    let out = b.davit(&[&logged[..], &["delete", "--force", &b.id]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    b.assert_nothing_left("sleep 31391");
    assert_eq!(fs::read_to_string(&ran).unwrap(), "poststart\npoststop\n");
    let text = fs::read_to_string(&log).unwrap();
    for hook in ["poststart", "poststop"] {
        assert!(
            text.lines().any(|l| l.contains("\"level\":\"warning\"")
                && l.contains(&format!("{hook} hook failed"))),
            "no {hook} warning in {text}"
        );
    }
}
