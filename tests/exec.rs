//! `exec` beyond the basics of tests/lifecycle.rs: into a container that is paused or stopped
//! (a clear refusal, nothing left waiting), as another user, and with a terminal handed over
//! a console socket. Peer behaviour: each runs against runc too.

mod common;

use std::fs;
use std::os::unix::net::UnixListener;

use common::*;
use serde_json::json;

fn running(b: &Bundle) {
    let (ok, err) = b.create(&[]);
    assert!(ok, "create: {err}");
    b.must(&["start", &b.id]);
}

/// `exec ARGS` that must fail, bounded: an exec that blocks on a frozen cgroup fails the test
/// instead of hanging it. Returns its stderr.
fn refused_exec(b: &Bundle, args: &[&str], what: &str) -> String {
    let out = output_within(b.cmd(&[&["exec"], args].concat()), 30, what);
    assert!(!out.status.success(), "{what} succeeded: {}", stdout(&out));
    stderr(&out)
}

#[test]
fn exec_into_a_paused_container_is_refused_and_nothing_waits() {
    let b = Bundle::new(&["sleep", "31481"]);
    running(&b);
    b.must(&["pause", &b.id]);
    let err = refused_exec(
        &b,
        &[&b.id, "sh", "-c", "echo 31481-exec"],
        "exec into a paused container",
    );
    assert!(err.contains("paused"), "the error does not say why: {err}");
    assert!(
        processes_with("31481-exec").is_empty(),
        "a refused exec left a process waiting in the frozen cgroup"
    );
    // The refusal changed nothing: still paused, and it resumes and takes an exec.
    assert_eq!(b.status(), "paused");
    b.must(&["resume", &b.id]);
    let out = output_within(
        b.cmd(&["exec", &b.id, "echo", "after-resume"]),
        30,
        "exec after resume",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "after-resume");
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31481");
}

#[test]
fn exec_into_a_stopped_container_is_refused() {
    let b = Bundle::new(&["sh", "-c", "exit 0"]);
    running(&b);
    let pid = b.state()["pid"].as_i64().unwrap_or(0) as i32;
    if pid > 0 {
        assert!(exits_within(pid, 20), "the container did not exit");
    }
    wait_until(20, "the container to be stopped", || {
        b.status() == "stopped"
    });
    let err = refused_exec(
        &b,
        &[&b.id, "echo", "31482-exec"],
        "exec into a stopped container",
    );
    assert!(err.contains("stopped"), "the error does not say why: {err}");
    assert!(processes_with("31482-exec").is_empty());
    b.must(&["delete", &b.id]);
    b.assert_nothing_left("31482");
}

#[test]
fn exec_into_a_container_that_does_not_exist_is_refused() {
    let b = Bundle::new(&["true"]);
    let err = refused_exec(&b, &["no-such-31483", "true"], "exec into nothing");
    assert!(err.contains("does not exist"), "{err}");
    // runc's message does not name the container; davit's does.
    if runtime() != Runtime::Runc {
        assert!(
            err.contains("no-such-31483"),
            "the error does not name the container: {err}"
        );
    }
}

#[test]
fn exec_user_sets_uid_and_gid() {
    let b = Bundle::new(&["sleep", "31484"]);
    running(&b);
    let out = output_within(
        b.cmd(&[
            "exec",
            "--user",
            "1234:5678",
            &b.id,
            "sh",
            "-c",
            "echo $(id -u) $(id -g)",
        ]),
        30,
        "exec --user",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "1234 5678");
    // A uid alone leaves the gid at 0, as runc does.
    let out = output_within(
        b.cmd(&[
            "exec",
            "--user",
            "1234",
            &b.id,
            "sh",
            "-c",
            "echo $(id -u) $(id -g)",
        ]),
        30,
        "exec --user uid",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "1234 0");
    // The init is untouched: still root.
    let status = fs::read_to_string(format!("/proc/{}/status", b.pid())).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid.split_whitespace().nth(1) == Some("0"), "{uid}");
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31484");
}

#[test]
fn exec_t_hands_the_pty_master_to_the_console_socket() {
    // The container itself has no terminal: only the exec'd process gets one.
    let b = Bundle::new(&["sleep", "31485"]);
    running(&b);
    let process = json!({
        "terminal": true,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh", "-c", "tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-a-tty; echo exec-31485-done; sleep 31486"],
        "env": ["PATH=/bin", "TERM=xterm"],
        "cwd": "/"
    });
    let p = b.path().join("process.json");
    fs::write(&p, process.to_string()).unwrap();
    let sock = b.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || receive_fd(&listener));
    // runc takes a console socket only with -d (it does not wait on a process whose terminal
    // someone else holds); davit also wants the terminal in a process file.
    let out = output_within(
        b.cmd(&[
            "exec",
            "-d",
            "-t",
            "--console-socket",
            sock.to_str().unwrap(),
            "--process",
            p.to_str().unwrap(),
            &b.id,
        ]),
        30,
        "exec -t",
    );
    assert!(out.status.success(), "exec -t: {}", stderr(&out));
    wait_until(10, "the pty master on the console socket", || {
        receiver.is_finished()
    });
    let master = receiver.join().unwrap();
    let seen = read_until(fs::File::from(master), "exec-31485-done", 30);
    assert!(seen.contains("/dev/pts/"), "tty: {seen:?}");
    assert!(seen.contains("stdio-is-a-tty"), "{seen:?}");
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31485");
    b.assert_nothing_left("sleep 31486");
}
