//! --console-socket: the pty master arrives over a unix socket, as containerd's shim gets it.

mod common;

use std::os::unix::net::UnixListener;

use common::*;
use serde_json::json;

#[test]
fn console_socket_receives_the_pty_master() {
    let b = Bundle::new(&["sh", "-c", "tty; echo console-31370; sleep 31370"]);
    b.edit(|c| c["process"]["terminal"] = json!(true));
    let sock = b.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || receive_fd(&listener));
    let (ok, err) = b.create(&["--console-socket", sock.to_str().unwrap()]);
    assert!(ok, "create: {err}");
    let master = receiver.join().unwrap();
    b.must(&["start", &b.id]);

    let seen = read_until(std::fs::File::from(master), "console-31370", 30);
    // `tty` inside names the pty slave: the container's stdio is the terminal.
    assert!(seen.contains("/dev/pts/"), "{seen:?}");
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31370");
}

#[test]
fn terminal_without_console_socket_is_refused_cleanly() {
    let b = Bundle::new(&["sleep", "31371"]);
    b.edit(|c| c["process"]["terminal"] = json!(true));
    let (ok, err) = b.create(&[]);
    assert!(!ok);
    assert!(err.contains("console socket"), "{err}");
    b.assert_nothing_left("sleep 31371");
}

#[test]
fn run_in_the_foreground_relays_a_terminal_nobody_received() {
    // runc's users type `run` with "terminal": true and no --console-socket: davit holds
    // the pty itself, copies its stdin into it and what the container writes out of it.
    let b = Bundle::new(&[
        "sh",
        "-c",
        "read line; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo tty-ok; echo tty-is-$(tty); \
         echo got-$line; exit 7",
    ]);
    b.edit(|c| c["process"]["terminal"] = json!(true));
    // Under script(1), as from a user's terminal: the runtime's own stdio is a tty (runc
    // insists on one), which davit puts in raw mode while the container has it.
    let run_cmd = format!(
        "{} --root {} run --bundle {} {}",
        b.bin.display(),
        b.root.display(),
        b.path().display(),
        b.id
    );
    // The boards' busybox has no script(1): there davit runs on pipes, which it needs no tty for.
    let mut cmd = if std::path::Path::new("/usr/bin/script").exists() {
        let mut c = std::process::Command::new("script");
        c.args(["-qefc", &run_cmd, "/dev/null"]);
        c
    } else {
        b.cmd(&["run", "--bundle", b.path().to_str().unwrap(), &b.id])
    };
    let mut run = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    run.stdin
        .take()
        .unwrap()
        .write_all(b"hello-31372\n")
        .unwrap();
    assert!(
        exits_within(run.id() as i32, 30),
        "run with a terminal still runs after 30 s"
    );
    let out = run.wait_with_output().unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(7), "{text} {}", stderr(&out));
    assert!(
        text.contains("tty-ok"),
        "stdio is not the terminal: {text:?}"
    );
    // A pty of the container's own devpts, not the caller's terminal passed through.
    assert!(text.contains("tty-is-/dev/pts/"), "{text:?}");
    assert!(text.contains("got-hello-31372"), "{text:?}");
    b.assert_nothing_left("hello-31372");
}
