//! The state root under stress: two creates racing for one id, a create SIGKILLed while a
//! hook holds it, and a state.json that is truncated, garbage or empty. Each is something a
//! supervisor, a crash or a full disk does for real.

mod common;

use std::fs;
use std::process::{Child, Stdio};

use common::*;

/// Removes by hand what a peer could not: every process in the container's cgroups, the
/// cgroups, its state directory. Only for runc, whose failures here are documented below.
fn scrub(b: &Bundle) {
    for ctl in [
        "memory", "pids", "freezer", "cpu", "cpuacct", "cpuset", "devices", "blkio",
    ] {
        let d = b.cgroup_dir(ctl);
        kill_cgroup_procs(&d);
    }
    for ctl in [
        "memory", "pids", "freezer", "cpu", "cpuacct", "cpuset", "devices", "blkio",
    ] {
        let d = b.cgroup_dir(ctl);
        if d.exists() {
            wait_until(10, "an emptied cgroup to go", || fs::remove_dir(&d).is_ok());
        }
    }
    let _ = fs::remove_dir_all(b.root.join(&b.id));
}

fn spawn_create(b: &Bundle, tag: &str) -> Child {
    let mut c = b.cmd(&["create", "--bundle", b.path().to_str().unwrap(), &b.id]);
    // Files, not pipes: the container's init inherits them.
    c.stdin(Stdio::null())
        .stdout(fs::File::create(b.path().join(format!("{tag}.out"))).unwrap())
        .stderr(fs::File::create(b.path().join(format!("{tag}.err"))).unwrap());
    c.spawn().unwrap()
}

fn finish(b: &Bundle, mut child: Child, tag: &str) -> (bool, String) {
    assert!(
        exits_within(child.id() as i32, 60),
        "create {tag} did not finish"
    );
    let ok = child.wait().unwrap().success();
    let err = fs::read_to_string(b.path().join(format!("{tag}.err"))).unwrap();
    (ok, err)
}

#[test]
fn two_concurrent_creates_of_one_id_one_wins_and_is_intact() {
    // Held at createRuntime, the first create owns the id for as long as the test likes: the
    // second one certainly runs while the first is under way, not before or after it.
    let b = Bundle::new(&["sleep", "31491"]);
    let gate = Gate::install(&b, "createRuntime");
    let first = spawn_create(&b, "first");
    gate.wait_ready();
    let second = spawn_create(&b, "second");
    let (ok2, err2) = finish(&b, second, "second");
    gate.open();
    let (ok1, err1) = finish(&b, first, "first");
    assert!(ok1, "the create that claimed the id first failed: {err1}");
    assert!(!ok2, "both creates of one id succeeded");
    let err2 = err2.to_lowercase();
    assert!(
        err2.contains("exist"),
        "the loser does not say the id is taken: {err2}"
    );
    // The winner's container is whole: created, and it starts, runs and is deleted.
    assert_eq!(b.status(), "created");
    let pid = b.pid();
    b.must(&["start", &b.id]);
    assert_eq!(b.status(), "running");
    assert_eq!(b.pid(), pid, "the loser replaced the winner's init");
    let procs = fs::read_to_string(b.cgroup_dir("pids").join("cgroup.procs")).unwrap();
    assert!(
        procs.lines().any(|p| p == pid.to_string()),
        "the loser's cleanup took the winner's cgroup: {procs}"
    );
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31491");
}

/// One round of two creates started back to back: exactly one must win, and its container
/// must be whole.
fn race_round(b: &Bundle) -> Result<(), String> {
    let (one, two) = (spawn_create(b, "a"), spawn_create(b, "b"));
    let outs = [finish(b, one, "a"), finish(b, two, "b")];
    let won = outs.iter().filter(|o| o.0).count();
    if won != 1 {
        return Err(format!("{won} creates succeeded: {outs:?}"));
    }
    let out = b.davit(&["state", &b.id]);
    if !out.status.success() {
        return Err(format!("the winner's state is gone: {}", stderr(&out)));
    }
    if b.status() != "created" {
        return Err(format!("the winner is {}", b.status()));
    }
    b.must(&["start", &b.id]);
    if b.status() != "running" {
        return Err(format!("the winner did not start: {}", b.status()));
    }
    Ok(())
}

#[test]
fn two_creates_released_together_one_wins() {
    // The unsynchronised race, many times. runc 1.1 fails it (both creates fail, or the
    // loser's cleanup deletes the winner's state and leaves its `runc init` running): davit's
    // claim of the id is what makes it hold, so on runc each round is scrubbed by hand.
    let mut failed = Vec::new();
    for round in 0..10 {
        let b = Bundle::new(&["sleep", "31492"]);
        if let Err(e) = race_round(&b) {
            failed.push(format!("round {round}: {e}"));
        }
        let _ = b.davit(&["delete", "--force", &b.id]);
        if runtime() == Runtime::Runc {
            scrub(&b);
        }
        b.assert_nothing_left("sleep 31492");
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn create_sigkilled_at_create_runtime_is_cleaned_by_delete_force() {
    let b = Bundle::new(&["sleep", "31493"]);
    let gate = Gate::install(&b, "createRuntime");
    let mut create = spawn_create(&b, "c");
    gate.wait_ready();
    // SIGKILL: no handler, no cleanup, exactly what an OOM kill or a power cut leaves.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(create.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    create.wait().unwrap();
    // The hook outlives the davit that ran it; release it.
    gate.open();

    // `state` answers, bounded, and says the container is not usable.
    let out = output_within(b.cmd(&["state", &b.id]), 10, "state after a killed create");
    if out.status.success() {
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("state is JSON");
        assert_state_schema(&s);
        assert_eq!(s["status"], "stopped", "{s}");
    } else {
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains(&b.id) || err.contains("exist"), "{err}");
    }
    let out = output_within(b.cmd(&["list"]), 10, "list after a killed create");
    assert!(out.status.success(), "list: {}", stderr(&out));
    let out = output_within(
        b.cmd(&["delete", "--force", &b.id]),
        30,
        "delete --force after a killed create",
    );
    assert!(out.status.success(), "delete --force: {}", stderr(&out));
    if runtime() == Runtime::Runc {
        // runc 1.1 records nothing before its createRuntime hooks run, so the killed create
        // leaves its cgroups (and `runc init`) for no command to find: `delete --force`
        // succeeds on a container it does not know.
        scrub(&b);
    }
    // The init libcontainer had forked, waiting for a start that never comes, is gone too.
    wait_until(20, "the half-made container's processes to go", || {
        processes_with("sleep 31493").is_empty()
    });
    b.assert_nothing_left("sleep 31493");
    let out = output_within(b.cmd(&["list", "-q"]), 10, "list");
    assert!(!stdout(&out).contains(&b.id), "{}", stdout(&out));
}

/// A running container whose state.json is then replaced by `damage(old)`.
fn damaged(marker: &str, damage: impl FnOnce(&[u8]) -> Vec<u8>) -> (Bundle, std::path::PathBuf) {
    let b = Bundle::new(&["sleep", marker]);
    let (ok, err) = b.create(&[]);
    assert!(ok, "create: {err}");
    b.must(&["start", &b.id]);
    let file = b.root.join(&b.id).join("state.json");
    let old = fs::read(&file).unwrap();
    fs::write(&file, damage(&old)).unwrap();
    (b, file)
}

/// A command's failure is an error message, never a panic (exit 101, a backtrace).
fn no_panic(what: &str, out: &std::process::Output) {
    let err = stderr(out);
    assert!(
        !err.contains("panicked") && out.status.code() != Some(101),
        "{what} panicked: {err}"
    );
    assert!(out.status.code().is_some(), "{what} died of a signal");
}

fn check_damaged_state(marker: &str, damage: impl FnOnce(&[u8]) -> Vec<u8>) {
    let (b, file) = damaged(marker, damage);
    let name = file.to_str().unwrap();

    let out = output_within(b.cmd(&["state", &b.id]), 10, "state");
    no_panic("state", &out);
    assert!(
        !out.status.success(),
        "state of a damaged state.json succeeded"
    );
    let err = stderr(&out);
    if runtime() == Runtime::Davit {
        // runc's error is the JSON decoder's alone ("unexpected end of JSON input").
        assert!(
            err.contains(name),
            "state's error does not name {name}: {err}"
        );
    }

    let out = output_within(b.cmd(&["list"]), 10, "list");
    no_panic("list", &out);
    if runtime() == Runtime::Davit {
        // runc's `list` fails as a whole; davit lists the container as unknown and says why.
        assert!(out.status.success(), "list: {}", stderr(&out));
        assert!(
            stdout(&out)
                .lines()
                .any(|l| l.starts_with(&b.id) && l.contains("unknown")),
            "{}",
            stdout(&out)
        );
        assert!(
            stderr(&out).contains(name),
            "list does not name {name}: {}",
            stderr(&out)
        );
    }

    let out = output_within(b.cmd(&["delete", &b.id]), 10, "delete");
    no_panic("delete", &out);
    assert!(!out.status.success(), "a plain delete of an unknown state");

    let out = output_within(b.cmd(&["delete", "--force", &b.id]), 30, "delete --force");
    no_panic("delete --force", &out);
    if runtime() == Runtime::Davit {
        assert!(out.status.success(), "delete --force: {}", stderr(&out));
        b.assert_nothing_left(&format!("sleep {marker}"));
    } else {
        // runc cannot read what it would delete: it fails with its decoder's error, and the
        // container stays running with nothing that can remove it.
        assert!(!out.status.success());
        scrub(&b);
        b.assert_nothing_left(&format!("sleep {marker}"));
    }
}

#[test]
fn a_truncated_state_json_is_reported_by_name_and_removed_by_force() {
    check_damaged_state("31494", |old| old[..old.len() / 3].to_vec());
}

#[test]
fn a_garbage_state_json_is_reported_by_name_and_removed_by_force() {
    check_damaged_state("31495", |_| b"\x00\xffnot json at all {{{".to_vec());
}

#[test]
fn an_empty_state_json_is_reported_by_name_and_removed_by_force() {
    check_damaged_state("31496", |_| Vec::new());
}

#[test]
fn a_state_json_of_the_wrong_shape_is_reported_by_name_and_removed_by_force() {
    // Valid JSON, but not a state: what a different program writing there would leave.
    check_damaged_state("31497", |_| br#"{"id": 7, "status": ["running"]}"#.to_vec());
}
