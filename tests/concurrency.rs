//! Several davit processes on one state root, as a supervisor, the CLI and containerd's shim
//! will be: state that readers can always read, creates that cannot collide, readers that
//! never wait for writers.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;

/// A `davit create` in the background. Its stdio goes to files: the container's init
/// inherits it, and a pipe would stay open as long as the container lives.
struct Create {
    child: std::process::Child,
    err: std::path::PathBuf,
}

impl Create {
    fn spawn(b: &Bundle, tag: &str) -> Create {
        let err = b.path().join(format!("{tag}.err"));
        let mut c = b.cmd(&["create", "--bundle", b.path().to_str().unwrap(), &b.id]);
        c.stdin(Stdio::null())
            .stdout(fs::File::create(b.path().join(format!("{tag}.out"))).unwrap())
            .stderr(fs::File::create(&err).unwrap());
        Create {
            child: c.spawn().unwrap(),
            err,
        }
    }

    /// Waits (bounded) and returns success and stderr.
    fn finish(mut self) -> (bool, String) {
        assert!(
            exits_within(self.child.id() as i32, 60),
            "create did not finish"
        );
        let ok = self.child.wait().unwrap().success();
        (ok, fs::read_to_string(&self.err).unwrap())
    }
}

#[test]
fn two_creates_of_one_id_exactly_one_wins_and_the_winner_stays_intact() {
    // Before: both creates passed libcontainer's "exists?" check and the loser's cleanup
    // killed the winner (4 of 6 rounds left no working container).
    const ROUNDS: usize = 40;
    for round in 0..ROUNDS {
        let b = Bundle::new(&["sleep", "31350"]);
        let (one, two) = (Create::spawn(&b, "a"), Create::spawn(&b, "b"));
        let outs = [one.finish(), two.finish()];
        let won = outs.iter().filter(|o| o.0).count();
        assert_eq!(won, 1, "round {round}: {won} creates succeeded: {outs:?}");
        let lost = outs.iter().find(|o| !o.0).unwrap();
        assert!(
            lost.1.contains("already exists"),
            "round {round}: {}",
            lost.1
        );
        assert_eq!(b.status(), "created", "round {round}");
        b.must(&["start", &b.id]);
        assert_eq!(b.status(), "running", "round {round}");
        b.must(&["delete", "--force", &b.id]);
        b.assert_nothing_left("sleep 31350");
    }
    println!("{ROUNDS} rounds of two concurrent creates: exactly one won each time");
}

#[test]
fn a_create_under_way_reads_creating_without_waiting_and_is_not_deleted_plainly() {
    let b = Bundle::new(&["sleep", "31351"]);
    let gate = Gate::install(&b, "createRuntime");
    let create = Create::spawn(&b, "c");
    gate.wait_ready();

    let out = output_within(b.cmd(&["state", &b.id]), 10, "state during create");
    assert!(out.status.success(), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["status"], "creating", "{s}");
    assert_eq!(s["pid"], 0, "{s}");
    let out = output_within(
        b.cmd(&["list", "--format", "json"]),
        10,
        "list during create",
    );
    assert!(stdout(&out).contains("\"creating\""), "{}", stdout(&out));
    let out = output_within(b.cmd(&["delete", &b.id]), 10, "delete during create");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("it is creating"), "{}", stderr(&out));

    gate.open();
    let (ok, err) = create.finish();
    assert!(ok, "{err}");
    assert_eq!(b.status(), "created");
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31351");
}

#[test]
fn a_create_killed_halfway_leaves_a_stopped_container_that_delete_removes() {
    let b = Bundle::new(&["sleep", "31352"]);
    let gate = Gate::install(&b, "createRuntime");
    let mut create = Create::spawn(&b, "c");
    gate.wait_ready();
    create.child.kill().unwrap();
    create.child.wait().unwrap();
    // The hook shell outlives its davit; let it go.
    gate.open();
    let s = b.state();
    assert_eq!(s["status"], "stopped", "{s}");
    let out = output_within(b.cmd(&["list", "-q"]), 10, "list");
    assert!(stdout(&out).contains(&b.id));
    b.must(&["delete", &b.id]);
    b.assert_nothing_left("sleep 31352");
}

#[test]
fn readers_do_not_wait_for_a_writer_holding_the_container() {
    // `start` holds the container while its poststart hooks run; before, `state` waited for
    // it with no bound.
    let b = Bundle::new(&["sleep", "31353"]);
    let gate = Gate::install(&b, "poststart");
    assert!(b.create(&[]).0);
    let mut start = b.cmd(&["start", &b.id]);
    start
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut start = start.spawn().unwrap();
    gate.wait_ready();
    for args in [
        vec!["state", b.id.as_str()],
        vec!["list"],
        vec!["ps", b.id.as_str()],
    ] {
        let out = output_within(b.cmd(&args), 10, &format!("{args:?} during start"));
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(b.status(), "running");
    gate.open();
    assert!(exits_within(start.id() as i32, 30), "start did not finish");
    assert!(start.wait().unwrap().success());
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31353");
}

#[test]
fn state_json_is_replaced_whole_never_rewritten_in_place() {
    // A reader without a lock sees the old file or the new one only if each save writes a
    // new file and renames it over the old: the inode must change with every save.
    let b = Bundle::new(&["sleep", "31354"]);
    assert!(b.create(&[]).0);
    let file = b.root.join(&b.id).join("state.json");
    let mut inodes = vec![fs::metadata(&file).unwrap().ino()];
    for op in ["start", "pause", "resume"] {
        b.must(&[op, &b.id]);
        inodes.push(fs::metadata(&file).unwrap().ino());
    }
    let mut distinct = inodes.clone();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        inodes.len(),
        "state.json rewritten in place: {inodes:?}"
    );
    let leftovers: Vec<_> = fs::read_dir(b.root.join(&b.id))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    b.must(&["delete", "--force", &b.id]);
}

#[test]
fn an_unreadable_state_is_reported_and_removed_by_force() {
    let b = Bundle::new(&["sleep", "31355"]);
    assert!(b.create(&[]).0);
    b.must(&["start", &b.id]);
    let file = b.root.join(&b.id).join("state.json");
    let text = fs::read(&file).unwrap();
    fs::write(&file, &text[..text.len() / 2]).unwrap();

    let out = b.davit(&["state", &b.id]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("state unreadable"),
        "{}",
        stderr(&out)
    );
    // Listed as what it is, not left out.
    let out = output_within(b.cmd(&["list"]), 10, "list");
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stdout(&out)
        .lines()
        .find(|l| l.starts_with(&b.id))
        .map(str::to_owned);
    assert!(
        line.as_deref().is_some_and(|l| l.contains("unknown")),
        "{line:?}"
    );
    assert!(
        stderr(&out).contains("state unreadable"),
        "{}",
        stderr(&out)
    );

    let out = b.davit(&["delete", &b.id]);
    assert!(!out.status.success(), "a plain delete must not guess");
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31355");
}

#[test]
fn list_never_opens_what_is_not_a_container_directory() {
    // A FIFO (as a killed create of an older davit left `.ID.exec.fifo`) blocked `list`
    // forever: opening a FIFO waits for a writer.
    let b = Bundle::new(&["sleep", "31356"]);
    assert!(b.create(&[]).0);
    nix::unistd::mkfifo(
        &b.root.join(".x.exec.fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    fs::write(b.root.join("a-file"), "x").unwrap();
    std::os::unix::fs::symlink(b.root.join(&b.id), b.root.join("a-link")).unwrap();
    let out = output_within(b.cmd(&["list", "-q"]), 10, "list");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), b.id, "{}", stdout(&out));
    b.must(&["delete", "--force", &b.id]);
}

#[test]
fn exec_into_a_paused_container_does_not_keep_resume_or_delete_waiting() {
    // The exec'd process (a clone of davit) joins the frozen cgroup; it used to hold the
    // container's lock there, so `resume` and `delete --force` waited forever.
    let b = Bundle::new(&["sleep", "31357"]);
    assert!(b.create(&[]).0);
    b.must(&["start", &b.id]);
    b.must(&["pause", &b.id]);
    let mut exec = b.cmd(&["exec", "--ignore-paused", &b.id, "true"]);
    exec.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut exec = exec.spawn().unwrap();
    // Forces the interleaving: resume only once the exec's process sits in the frozen cgroup.
    let procs = if cgroup_v2() {
        b.cgroup_dir("").join("cgroup.procs")
    } else {
        b.cgroup_dir("freezer").join("cgroup.procs")
    };
    wait_until(30, "the exec'd process to join the frozen cgroup", || {
        fs::read_to_string(&procs).is_ok_and(|p| p.lines().count() >= 2)
    });
    let out = output_within(b.cmd(&["resume", &b.id]), 15, "resume while an exec waits");
    assert!(out.status.success(), "{}", stderr(&out));
    // The exec'd process runs once the container is resumed, as with runc.
    assert!(
        exits_within(exec.id() as i32, 15),
        "exec did not finish after resume"
    );
    assert!(exec.wait().unwrap().success());
    let out = output_within(b.cmd(&["delete", "--force", &b.id]), 15, "delete");
    assert!(out.status.success(), "{}", stderr(&out));
    b.assert_nothing_left("sleep 31357");
}

#[test]
fn readers_racing_saves_never_see_a_torn_state() {
    // A save that rewrote state.json in place would let a lockless reader see it empty or
    // half written. The reader reads the raw file (as a tool beside davit would) and
    // `davit state` while pause and resume save it over and over. Only a reader that caught
    // saves in flight proves anything, so it must have seen the state change many times.
    const SAVES: usize = 200;
    let b = Bundle::new(&["sleep", "31358"]);
    assert!(b.create(&[]).0);
    b.must(&["start", &b.id]);
    let file = b.root.join(&b.id).join("state.json");
    let done = AtomicBool::new(false);
    let (mut reads, mut replaced, mut cli_reads) = (0usize, 0usize, 0usize);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..SAVES {
                let op = if i % 2 == 0 { "pause" } else { "resume" };
                let out = b.davit(&[op, &b.id]);
                if !out.status.success() {
                    done.store(true, Ordering::Relaxed);
                    panic!("{op}: {}", stderr(&out));
                }
            }
            done.store(true, Ordering::Relaxed);
        });
        let mut last = Vec::new();
        while !done.load(Ordering::Relaxed) {
            let text = fs::read(&file).unwrap();
            let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&text);
            assert!(
                parsed.is_ok(),
                "read {reads}: torn state.json ({} bytes): {:?}",
                text.len(),
                String::from_utf8_lossy(&text)
            );
            reads += 1;
            if text != last {
                replaced += 1;
                last = text;
            }
            if reads % 50 == 0 {
                let s = b.state();
                assert!(
                    ["running", "paused"].contains(&s["status"].as_str().unwrap()),
                    "{s}"
                );
                cli_reads += 1;
            }
        }
    });
    println!(
        "{reads} raw reads and {cli_reads} `state` calls during {SAVES} saves; \
         {replaced} saw a new state; none torn"
    );
    assert!(
        replaced >= SAVES / 10,
        "the reader caught only {replaced} of {SAVES} saves: it did not race them"
    );
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31358");
}

#[test]
fn racing_force_deletes_remove_a_running_container_once() {
    // Two `delete --force` at once (a supervisor's cleanup and a user's): both succeed,
    // neither hangs, and nothing is left.
    const ROUNDS: usize = 20;
    for round in 0..ROUNDS {
        let b = Bundle::new(&["sleep", "31359"]);
        assert!(b.create(&[]).0);
        b.must(&["start", &b.id]);
        let spawn = || {
            b.cmd(&["delete", "--force", &b.id])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let racers = [spawn(), spawn()];
        let outs: Vec<_> = racers
            .into_iter()
            .map(|c| {
                assert!(
                    exits_within(c.id() as i32, 30),
                    "round {round}: delete --force hangs"
                );
                c.wait_with_output().unwrap()
            })
            .collect();
        // As with runc, a forced delete of a container already gone succeeds.
        for o in &outs {
            assert!(
                o.status.success(),
                "round {round}: a racing delete --force failed: {}",
                stderr(o)
            );
        }
        b.assert_nothing_left("sleep 31359");
    }
    println!("{ROUNDS} rounds of two racing deletes --force: both succeeded, nothing left");
}
