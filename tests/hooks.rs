//! OCI hooks: every kind in runtime-spec's order, each given the container's state, its own
//! `env` and nothing else, a `timeout` that is enforced, and a failing prestart hook that
//! fails create and leaves nothing behind. Peer behaviour: all of these run against runc too.

mod common;

use std::fs;

use common::*;
use serde_json::{Value, json};

/// A hook that appends `name` to `log` and keeps the state it read on stdin in
/// `<log>.<name>.json`. `log` is a path as the hook sees it.
fn recorder(name: &str, log: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("cat > {log}.{name}.json; echo {name} >> {log}")]
    })
}

#[test]
fn every_hook_kind_runs_once_in_runtime_spec_order_with_the_state() {
    let b = Bundle::new(&["sleep", "31471"]);
    // One log for all: the rootfs is the host's `<bundle>/rootfs` and the container's `/`,
    // so startContainer (run inside the container, after pivot_root) writes the same file.
    let host_log = b.path().join("rootfs/hooks.log");
    let host = host_log.to_str().unwrap();
    b.edit(|c| {
        // startContainer writes into the container's root.
        c["root"]["readonly"] = json!(false);
        c["hooks"] = json!({
            "prestart": [recorder("prestart", host)],
            "createRuntime": [recorder("createRuntime", host)],
            "createContainer": [recorder("createContainer", host)],
            "startContainer": [recorder("startContainer", "/hooks.log")],
            "poststart": [recorder("poststart", host)],
            "poststop": [recorder("poststop", host)],
        })
    });
    let lines = || {
        fs::read_to_string(&host_log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let (ok, err) = b.create(&[]);
    assert!(ok, "create: {err}");
    // runtime-spec: prestart and createRuntime in the runtime namespace, then
    // createContainer in the container's, all during create. runc (and libcontainer) run the
    // deprecated prestart hooks first.
    let mut at_create = vec!["prestart", "createRuntime", "createContainer"];
    if runtime() == Runtime::Runc {
        // runc 1.1 runs poststart hooks in create (fixed in runc 1.2); runtime-spec has them
        // "after the user-specified process is executed", which is at start.
        at_create.push("poststart");
    }
    assert_eq!(lines(), at_create, "after create");
    b.must(&["start", &b.id]);
    let mut at_start = vec![
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
    ];
    if runtime() == Runtime::Runc {
        at_start = vec![
            "prestart",
            "createRuntime",
            "createContainer",
            "poststart",
            "startContainer",
        ];
    }
    assert_eq!(lines(), at_start, "after start");
    let pid = b.pid();
    b.must(&["delete", "--force", &b.id]);
    at_start.push("poststop");
    assert_eq!(lines(), at_start, "after delete");
    for kind in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        let file = if kind == "startContainer" {
            b.path().join("rootfs/hooks.log.startContainer.json")
        } else {
            format!("{host}.{kind}.json").into()
        };
        let text = fs::read_to_string(file).unwrap();
        let state: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{kind} got {text:?}: {e}"));
        assert_eq!(state["id"], b.id.as_str(), "{kind}: {state}");
        assert_eq!(
            state["bundle"],
            b.path().to_str().unwrap(),
            "{kind}: {state}"
        );
        // The init's pid as the host sees it, in the hooks that run in the runtime's
        // namespace while there is an init. In the container's namespaces (createContainer,
        // startContainer) runc passes the pid from inside (1) and davit none.
        if ["prestart", "createRuntime", "poststart"].contains(&kind) {
            assert_eq!(state["pid"], pid, "{kind}: {state}");
        }
    }
    b.assert_nothing_left("sleep 31471");
}

#[test]
fn a_hook_gets_its_env_and_nothing_of_the_runtimes() {
    let b = Bundle::new(&["sleep", "31472"]);
    let out = b.path().join("env.out");
    b.edit(|c| {
        c["hooks"] = json!({
            "createRuntime": [{
                "path": "/bin/sh",
                "args": ["sh", "-c", format!("/usr/bin/env > {}", out.display())],
                "env": ["HOOK_VAR=31472", "SECOND=two words"]
            }],
        })
    });
    let mut cmd = b.cmd(&["create", "--bundle", b.path().to_str().unwrap(), &b.id]);
    cmd.env("LEAKED_FROM_CALLER", "31472");
    // Files, not pipes: the container's init inherits them.
    cmd.stdout(fs::File::create(b.path().join("create.out")).unwrap());
    cmd.stderr(fs::File::create(b.path().join("create.err")).unwrap());
    let ok = output_status(cmd);
    assert!(
        ok,
        "create: {}",
        fs::read_to_string(b.path().join("create.err")).unwrap()
    );
    let text = fs::read_to_string(&out).unwrap();
    let vars: Vec<&str> = text.lines().collect();
    assert!(vars.contains(&"HOOK_VAR=31472"), "{text}");
    assert!(vars.contains(&"SECOND=two words"), "{text}");
    assert!(
        !text.contains("LEAKED_FROM_CALLER"),
        "the runtime's environment reached the hook: {text}"
    );
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31472");
}

/// Runs `cmd` (stdio already set), bounded, and returns whether it succeeded.
fn output_status(mut cmd: std::process::Command) -> bool {
    cmd.stdin(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    if !exits_within(child.id() as i32, 60) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("still running after 60 s");
    }
    child.wait().unwrap().success()
}

#[test]
fn a_hook_past_its_timeout_fails_create_and_is_killed() {
    let b = Bundle::new(&["sleep", "31473"]);
    // The hook blocks on a FIFO nobody opens for writing: it never finishes by itself, so
    // only the timeout can end it.
    let fifo = b.path().join("never");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    b.edit(|c| {
        c["hooks"] = json!({
            "createRuntime": [{
                "path": "/bin/busybox",
                "args": ["busybox", "cat", fifo.to_str().unwrap(), "31473-hook"],
                "timeout": 1
            }],
        })
    });
    let mut cmd = b.cmd(&["create", "--bundle", b.path().to_str().unwrap(), &b.id]);
    cmd.stdout(fs::File::create(b.path().join("create.out")).unwrap());
    let out = output_within(cmd, 60, "create with a hook that never ends");
    assert!(
        !out.status.success(),
        "create succeeded past a hook timeout"
    );
    let err = stderr(&out);
    assert!(
        err.to_lowercase().contains("timeout") || err.to_lowercase().contains("timed out"),
        "the error does not say the hook timed out: {err}"
    );
    wait_until(20, "the timed-out hook to be killed", || {
        processes_with("31473-hook").is_empty()
    });
    b.assert_nothing_left("sleep 31473");
}

#[test]
fn a_failing_prestart_hook_fails_create_clearly_and_leaves_nothing() {
    let b = Bundle::new(&["sleep", "31474"]);
    b.edit(|c| {
        c["hooks"] = json!({
            "prestart": [{
                "path": "/bin/sh",
                "args": ["sh", "-c", "cat >/dev/null; echo hook-31474-refuses >&2; exit 3"]
            }],
        })
    });
    let (ok, err) = b.create(&[]);
    assert!(!ok, "create succeeded with a failing prestart hook");
    assert!(
        err.to_lowercase().contains("hook"),
        "the error does not name the hook: {err}"
    );
    assert!(
        err.contains("exit status 3") || err.contains("exit code 3") || err.contains("code: 3"),
        "the error does not give the hook's exit status: {err}"
    );
    // No trace of it: state dir, cgroups, the init waiting for a start.
    b.assert_nothing_left("sleep 31474");
    let out = b.davit(&["state", &b.id]);
    assert!(!out.status.success(), "state of a failed create succeeded");
    let out = output_within(b.cmd(&["list", "-q"]), 10, "list");
    assert!(!stdout(&out).contains(&b.id), "{}", stdout(&out));
}
