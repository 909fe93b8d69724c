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

    let mut pty = std::fs::File::from(master);
    let mut seen = String::new();
    let mut buf = [0u8; 512];
    while !seen.contains("console-31370") {
        let n = pty.read(&mut buf).expect("read from the pty master");
        assert!(n > 0, "pty closed early; got {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
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
