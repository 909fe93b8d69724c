//! linux.seccomp beyond the default profile (tests/seccomp.rs): a rule's `errnoRet`, the
//! filter `flags`, and SCMP_ACT_NOTIFY, whose listener receives the notify descriptor and
//! answers the container's calls. Peer behaviour: all run against runc too.

mod common;

use std::fs;
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

use common::*;
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use serde_json::{Value, json};

/// `run` of `b` to its end, its stdout and stderr merged by the container's shell.
fn run_to_the_end(b: &Bundle) -> String {
    let out = output_within(
        b.cmd(&["run", "--bundle", b.path().to_str().unwrap(), &b.id]),
        60,
        "run",
    );
    assert!(
        out.status.success(),
        "run: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

#[test]
fn errno_ret_is_the_errno_the_call_fails_with() {
    let b = Bundle::new(&[
        "sh",
        "-c",
        "(mkdir /tmp/d-31521; rmdir /tmp; echo done-31521) 2>&1",
    ]);
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                // EXDEV: an errno mkdir never fails with by itself here.
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18},
                // No errnoRet: runtime-spec's default, EPERM.
                {"names": ["rmdir", "unlinkat"], "action": "SCMP_ACT_ERRNO"}
            ]
        });
    });
    let text = run_to_the_end(&b);
    assert!(text.contains("done-31521"), "{text}");
    let mkdir = text.lines().find(|l| l.contains("mkdir")).unwrap_or("");
    assert!(
        mkdir.contains("Invalid cross-device link"),
        "mkdir did not fail with errnoRet 18 (EXDEV): {text}"
    );
    let rmdir = text.lines().find(|l| l.contains("rmdir")).unwrap_or("");
    assert!(
        rmdir.contains("Operation not permitted"),
        "an ERRNO rule without errnoRet must give EPERM: {text}"
    );
    assert!(
        !b.path().join("rootfs/tmp/d-31521").exists(),
        "mkdir went through"
    );
}

/// How many lines of the kernel log have `needle`.
fn kernel_log_lines(dir: &std::path::Path, needle: &str) -> usize {
    kernel_log(dir)
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

/// The kernel log, as `dmesg` prints it.
fn kernel_log(dir: &std::path::Path) -> String {
    // Into a file: the log can be larger than a pipe holds, and output_within reads only
    // once the command has ended.
    let file = dir.join("dmesg.out");
    let mut child = std::process::Command::new("dmesg")
        .stdout(fs::File::create(&file).unwrap())
        .spawn()
        .unwrap();
    assert!(exits_within(child.id() as i32, 20), "dmesg did not finish");
    assert!(child.wait().unwrap().success(), "dmesg failed");
    String::from_utf8_lossy(&fs::read(&file).unwrap()).into_owned()
}

#[test]
fn the_log_flag_makes_the_kernel_log_errno_actions() {
    // SECCOMP_FILTER_FLAG_LOG: the kernel logs every action of the filter but ALLOW (errno
    // among them, per /proc/sys/kernel/seccomp/actions_logged) as an audit record,
    // code=0x50000 for SECCOMP_RET_ERRNO. Without the flag, errno actions are not logged at
    // all. The container shares the host's pid namespace so that the pid it prints is the
    // one the record names.
    let logged = fs::read_to_string("/proc/sys/kernel/seccomp/actions_logged").unwrap_or_default();
    if !logged.split_whitespace().any(|a| a == "errno") {
        eprintln!("the kernel does not log errno actions here: {logged}");
        return;
    }
    let b = Bundle::new(&["sh", "-c", "echo pid=$$; exec mkdir /tmp/l-31522 2>&1"]);
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid");
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            // SPEC_ALLOW only has to be accepted: this host has no SSB mitigation to lift.
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77}
            ]
        });
    });
    let out = output_within(
        b.cmd(&["run", "--bundle", b.path().to_str().unwrap(), &b.id]),
        60,
        "run",
    );
    let text = stdout(&out);
    if runtime() == Runtime::Runc {
        // Debian's runc 1.1.5 refuses any `flags` rather than dropping them.
        assert!(
            stderr(&out).contains("seccomp flags are not yet supported"),
            "{text}{}",
            stderr(&out)
        );
        b.assert_nothing_left("l-31522");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(
        text.contains("File descriptor in bad state"),
        "the rule did not apply: {text}"
    );
    let pid = text
        .lines()
        .find_map(|l| l.strip_prefix("pid="))
        .expect("the container printed its pid");
    let needle = format!("pid={pid} comm=\"mkdir\"");
    wait_until(20, "the kernel to log the errno action", || {
        kernel_log_lines(b.path(), &needle) > 0
    });
    let record = kernel_log(b.path())
        .lines()
        .find(|l| l.contains(&needle))
        .unwrap()
        .to_owned();
    assert!(record.contains("code=0x50000"), "{record}");
}

/// What the runtime sends to a seccomp listener: the container's process state (JSON) and
/// the notify descriptor.
fn receive_listener_message(listener: &UnixListener) -> (Value, OwnedFd) {
    let (mut conn, _) = listener.accept().unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut fd = None;
    let n = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 4]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .unwrap();
        for c in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(fds) = c {
                // SAFETY: the kernel just installed this descriptor for us.
                fd = Some(unsafe { OwnedFd::from_raw_fd(fds[0]) });
            }
        }
        msg.bytes
    };
    buf.truncate(n);
    // The rest of the state, if it did not fit one message; the runtime closes after it.
    conn.read_to_end(&mut buf).unwrap();
    let state: Value = serde_json::from_slice(&buf)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&buf)));
    (state, fd.expect("no descriptor with the listener message"))
}

/// Waits (bounded) for one notification on `notify` and answers it with `-errno`.
/// Returns the system call number it was for and the cgroups of the process that made it,
/// read while the call waits (answered, the process may be gone at once).
fn answer_one(notify: &OwnedFd, errno: i32) -> (i32, String) {
    let mut pfd = libc::pollfd {
        fd: notify.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: pfd is a valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, 30_000) };
    assert_eq!(n, 1, "no seccomp notification within 30 s");
    // SAFETY: seccomp_notif is plain data; all-zero is what SECCOMP_IOCTL_NOTIF_RECV wants.
    let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: the ioctl writes one seccomp_notif into req, which outlives the call.
    let rc = unsafe { libc::ioctl(notify.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) };
    assert_eq!(rc, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
    let cgroups = fs::read_to_string(format!("/proc/{}/cgroup", req.pid))
        .unwrap_or_else(|e| format!("pid {}: {e}", req.pid));
    let resp = libc::seccomp_notif_resp {
        id: req.id,
        val: 0,
        error: -errno,
        flags: 0,
    };
    // SAFETY: the ioctl reads one seccomp_notif_resp from resp, which outlives the call.
    let rc = unsafe { libc::ioctl(notify.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    assert_eq!(rc, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
    (req.data.nr, cgroups)
}

#[test]
fn a_notify_rule_hands_the_listener_the_fd_that_answers_the_call() {
    let b = Bundle::new(&[
        "sh",
        "-c",
        "(mkdir /tmp/n-31523; echo done-31523) 2>&1; sleep 31523",
    ]);
    let sock = b.path().join("seccomp.sock");
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "listenerPath": sock.to_str().unwrap(),
            "listenerMetadata": "test-31523",
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}
            ]
        });
    });
    let listener = UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || receive_listener_message(&listener));
    let (ok, err) = b.create(&[]);
    assert!(ok, "create: {err}");
    wait_until(10, "the runtime to call the seccomp listener", || {
        receiver.is_finished()
    });
    let (state, notify) = receiver.join().unwrap();
    // runtime-spec's containerProcessState.
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], "test-31523", "{state}");
    assert_eq!(state["state"]["id"], b.id.as_str(), "{state}");
    assert!(state["pid"].as_i64().is_some_and(|p| p > 0), "{state}");
    let link = fs::read_link(format!("/proc/self/fd/{}", notify.as_raw_fd())).unwrap();
    assert!(
        link.to_string_lossy().contains("seccomp"),
        "not a seccomp notify descriptor: {}",
        link.display()
    );

    b.must(&["start", &b.id]);
    // The container's mkdir waits on us; our answer is its result.
    let (nr, cg) = answer_one(&notify, libc::EXDEV);
    assert!(
        nr as i64 == libc::SYS_mkdir || nr as i64 == libc::SYS_mkdirat,
        "notified for system call {nr}"
    );
    assert!(
        cg.contains(&b.id),
        "the call came from outside the container: {cg}"
    );
    let out = b.path().join("create.out");
    wait_until(20, "the container to go on after the answer", || {
        fs::read_to_string(&out).is_ok_and(|t| t.contains("done-31523"))
    });
    let text = fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("Invalid cross-device link"),
        "mkdir did not get the listener's answer: {text}"
    );
    assert!(!b.path().join("rootfs/tmp/n-31523").exists());
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31523");
}
