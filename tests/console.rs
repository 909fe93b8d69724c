//! --console-socket: the pty master arrives over a unix socket, as containerd's shim gets it.

mod common;

use std::io::{IoSliceMut, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

use common::*;
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use serde_json::json;

fn receive_fd(listener: &UnixListener) -> OwnedFd {
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        std::os::fd::AsRawFd::as_raw_fd(&conn),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel just installed this descriptor for us.
            return unsafe { OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no descriptor received on the console socket");
}

/// Reads the pty master until `marker` shows up; a read never waits past the deadline, so a
/// container that prints nothing fails the test instead of hanging it.
fn read_until(mut pty: std::fs::File, marker: &str, secs: u64) -> String {
    use std::os::fd::AsRawFd;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut seen = String::new();
    let mut buf = [0u8; 512];
    while !seen.contains(marker) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(
            !left.is_zero(),
            "no {marker:?} on the pty within {secs} s; got {seen:?}"
        );
        let mut pfd = libc::pollfd {
            fd: pty.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd is a valid pollfd for the duration of the call.
        if unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) } < 1 {
            continue;
        }
        let n = pty.read(&mut buf).expect("read from the pty master");
        assert!(n > 0, "pty closed early; got {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    seen
}

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
