//! Side by side with runc (Debian's, installed by testbeds/setup.sh): the same bundle gives
//! the same state fields and exit codes.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

const RUNC: &str = "/usr/sbin/runc";

fn runc(root: &Path, args: &[&str]) -> std::process::Output {
    assert!(
        Path::new(RUNC).exists(),
        "{RUNC} missing: run testbeds/setup.sh"
    );
    Command::new(RUNC)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn runc_create(root: &Path, bundle: &Path, id: &str) {
    let st = Command::new(RUNC)
        .arg("--root")
        .arg(root)
        .args(["create", "--bundle", bundle.to_str().unwrap(), id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "runc create");
}

fn fields(s: &Value) -> Vec<(&'static str, Value)> {
    ["id", "status", "bundle", "annotations"]
        .iter()
        .map(|k| (*k, s.get(*k).cloned().unwrap_or(Value::Null)))
        .collect()
}

#[test]
fn state_json_matches_runc_through_the_lifecycle() {
    let b = Bundle::new(&["sleep", "31380"]);
    b.edit(|c| c["annotations"] = serde_json::json!({"org.davit.test": "peer"}));
    let runc_root = b.path().join("runc-state");
    // One bundle, one id, both runtimes; their cgroups must differ.
    assert!(b.create(&[]).0);
    b.edit(|c| c["linux"]["cgroupsPath"] = Value::from(format!("{}-runc", b.cgroup)));
    runc_create(&runc_root, b.path(), &b.id);

    let compare = |step: &str| {
        let ours = b.state();
        let out = runc(&runc_root, &["state", &b.id]);
        assert!(out.status.success(), "runc state: {}", stderr(&out));
        let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_state_schema(&ours);
        assert_eq!(fields(&ours), fields(&theirs), "after {step}");
        for key in ["ociVersion", "pid", "created", "owner"] {
            assert_eq!(
                ours.get(key).is_some(),
                theirs.get(key).is_some(),
                "{key} presence after {step}"
            );
        }
    };
    compare("create");
    b.must(&["start", &b.id]);
    assert!(runc(&runc_root, &["start", &b.id]).status.success());
    compare("start");
    let (ours, theirs) = (b.pid(), {
        let out = runc(&runc_root, &["state", &b.id]);
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["pid"]
            .as_i64()
            .unwrap() as i32
    });
    b.must(&["kill", &b.id, "KILL"]);
    assert!(runc(&runc_root, &["kill", &b.id, "KILL"]).status.success());
    wait_exit(ours, 10);
    wait_exit(theirs, 10);
    compare("kill");
    b.must(&["delete", &b.id]);
    assert!(runc(&runc_root, &["delete", &b.id]).status.success());
    // Both forget the container the same way.
    assert!(!b.davit(&["state", &b.id]).status.success());
    assert!(!runc(&runc_root, &["state", &b.id]).status.success());
}

#[test]
fn run_exit_codes_match_runc() {
    for script in ["true", "exit 1", "exit 7", "exit 255"] {
        let b = Bundle::new(&["sh", "-c", script]);
        let ours = b.davit(&["run", "--bundle", b.path().to_str().unwrap(), &b.id]);
        let theirs = runc(
            &b.path().join("runc-state"),
            &["run", "--bundle", b.path().to_str().unwrap(), &b.id],
        );
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "{script}: {}",
            stderr(&ours)
        );
    }
}

#[test]
fn error_exit_codes_match_runc() {
    let b = Bundle::new(&["sleep", "31381"]);
    let runc_root = b.path().join("runc-state");
    for args in [
        vec!["state", "absent"],
        vec!["start", "absent"],
        vec!["kill", "absent", "KILL"],
        vec!["delete", "absent"],
        vec!["create", "--bundle", "/nonexistent", "x"],
    ] {
        let ours = b.davit(&args);
        let theirs = runc(&runc_root, &args);
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        assert!(!ours.status.success());
    }
}
