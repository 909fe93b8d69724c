//! runc's create and run flags: `run --keep`, `--no-pivot`, `--preserve-fds`, systemd's
//! LISTEN_FDS socket activation and a relative `--pid-file`. Peer behaviour: all run against
//! runc too.

mod common;

use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

#[test]
fn run_keep_leaves_the_stopped_container_for_a_plain_delete() {
    let b = Bundle::new(&["sh", "-c", "exit 3", "keep-31514"]);
    let bundle = b.path().to_str().unwrap();
    let out = output_within(
        b.cmd(&["run", "--keep", "--bundle", bundle, &b.id]),
        60,
        "run --keep",
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let s = b.state();
    assert_state_schema(&s);
    assert_eq!(s["status"], "stopped", "{s}");
    assert!(
        b.cgroup_dir("pids").exists(),
        "--keep must keep the container's cgroup until delete"
    );
    b.must(&["delete", &b.id]);
    b.assert_nothing_left("keep-31514");

    // Without --keep the same run leaves nothing to delete.
    let out = output_within(b.cmd(&["run", "--bundle", bundle, &b.id]), 60, "run");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = b.davit(&["state", &b.id]);
    assert!(!out.status.success(), "run without --keep left a container");
    b.assert_nothing_left("keep-31514");
}

/// The pivot_root and chroot calls of `run FLAGS` of a container that exits at once, as
/// strace records them. None when this host has no strace.
fn root_calls(b: &Bundle, flags: &[&str]) -> Option<String> {
    if !Path::new("/usr/bin/strace").exists() {
        return None;
    }
    let trace = b.path().join("trace");
    let mut cmd = Command::new("/usr/bin/strace");
    cmd.args(["-f", "-qq", "-e", "trace=pivot_root,chroot", "-o"])
        .arg(&trace)
        .arg(&b.bin)
        .arg("--root")
        .arg(&b.root)
        .arg("run")
        .args(flags)
        .args(["--bundle", b.path().to_str().unwrap(), &b.id]);
    let out = output_within(cmd, 60, "run under strace");
    assert!(out.status.success(), "run {flags:?}: {}", stderr(&out));
    Some(fs::read_to_string(&trace).unwrap())
}

#[test]
fn no_pivot_roots_the_container_by_chroot_instead_of_pivot_root() {
    let b = Bundle::new(&["sh", "-c", "cat /marker-31511 && [ ! -e /rootfs ]"]);
    // A file only the container's root has, and the bundle's own name for that root, which
    // the container must not see: it is rooted in rootfs/, pivot or not.
    fs::write(b.path().join("rootfs/marker-31511"), "in-rootfs").unwrap();
    let Some(pivoted) = root_calls(&b, &[]) else {
        eprintln!("no strace here: cannot tell pivot_root from chroot");
        return;
    };
    assert!(
        pivoted.contains("pivot_root("),
        "a plain run did not pivot_root: {pivoted}"
    );
    let moved = root_calls(&b, &["--no-pivot"]).unwrap();
    assert!(
        !moved.contains("pivot_root("),
        "--no-pivot still called pivot_root: {moved}"
    );
    assert!(
        moved.contains("chroot("),
        "--no-pivot must chroot into the moved root: {moved}"
    );
    b.assert_nothing_left("marker-31511");
}

/// A pipe whose ends are closed on exec in this process.
fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap()
}

/// Everything written to `r` until every writer has closed it, failing after `secs`.
fn read_to_eof(r: OwnedFd, secs: u64) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut f = fs::File::from(r);
    let mut text = String::new();
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "the pipe was never closed; got {text:?}");
        let mut pfd = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd is a valid pollfd for the duration of the call.
        if unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) } < 1 {
            continue;
        }
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            return text;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

/// Makes `fds[i]` descriptor 3+i of the command's process.
fn with_fds(cmd: &mut Command, fds: &[&OwnedFd]) {
    let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
    // SAFETY: between fork and exec only dup2, which is async-signal-safe, runs; the source
    // descriptors are all above 2 and stay open in the parent until the child has exec'd.
    unsafe {
        cmd.pre_exec(move || {
            for (i, fd) in raw.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// What the container's shell reports about its descriptors 3 and 4 and its LISTEN_ vars,
/// written to descriptor 3. Descriptor 4 is looked at first, with a builtin: a command
/// substitution opens a pipe of its own there.
const REPORT_FDS: &str = "if [ -e /proc/$$/fd/4 ]; then f4=open; else f4=none; fi; \
                          echo \"fd3=$(readlink /proc/$$/fd/3) fd4=$f4 \
                          listen=${LISTEN_FDS:-unset},${LISTEN_PID:-unset}\" >&3";

#[test]
fn preserve_fds_passes_exactly_that_many_descriptors() {
    let b = Bundle::new(&["sh", "-c", REPORT_FDS]);
    let (r3, w3) = pipe();
    let (_r4, w4) = pipe();
    let want = fs::read_link(format!("/proc/self/fd/{}", w3.as_raw_fd()))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut cmd = b.cmd(&[
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        b.path().to_str().unwrap(),
        &b.id,
    ]);
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(b.path().join("run.out")).unwrap())
        .stderr(fs::File::create(b.path().join("run.err")).unwrap());
    with_fds(&mut cmd, &[&w3, &w4]);
    let mut child = cmd.spawn().unwrap();
    drop((w3, w4));
    let text = read_to_eof(r3, 60);
    assert!(exits_within(child.id() as i32, 60), "run did not finish");
    let ok = child.wait().unwrap().success();
    let err = fs::read_to_string(b.path().join("run.err")).unwrap();
    assert!(ok, "run --preserve-fds 1: {err}");
    // The container's descriptor 3 is our pipe, the very one: the same pipe inode.
    assert!(
        text.contains(&format!("fd3={want} ")),
        "want {want}: {text:?}"
    );
    assert!(
        text.contains("fd4=none"),
        "a descriptor past --preserve-fds leaked: {text:?}"
    );
    assert!(
        text.contains("listen=unset,unset"),
        "LISTEN_ vars without socket activation: {text}"
    );
    b.assert_nothing_left(REPORT_FDS);
}

#[test]
fn listen_fds_from_socket_activation_reach_the_container() {
    // systemd's socket activation: the runtime is started with LISTEN_FDS=1, LISTEN_PID=its
    // own pid and the socket as descriptor 3. runc passes the descriptor on without
    // --preserve-fds and tells the container LISTEN_FDS=1, LISTEN_PID=1.
    let b = Bundle::new(&["sh", "-c", REPORT_FDS]);
    let (r3, w3) = pipe();
    let want = fs::read_link(format!("/proc/self/fd/{}", w3.as_raw_fd()))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    // A shell sets LISTEN_PID to its own pid and execs the runtime, which keeps that pid.
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ LISTEN_FDS=1 exec \"$@\"")
        .arg("sh")
        .arg(&b.bin)
        .arg("--root")
        .arg(&b.root)
        .args(["run", "--bundle", b.path().to_str().unwrap(), &b.id]);
    cmd.env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(fs::File::create(b.path().join("run.out")).unwrap())
        .stderr(fs::File::create(b.path().join("run.err")).unwrap());
    with_fds(&mut cmd, &[&w3]);
    let mut child = cmd.spawn().unwrap();
    drop(w3);
    let text = read_to_eof(r3, 60);
    assert!(exits_within(child.id() as i32, 60), "run did not finish");
    let ok = child.wait().unwrap().success();
    let err = fs::read_to_string(b.path().join("run.err")).unwrap();
    assert!(ok, "run with LISTEN_FDS=1: {err}");
    assert!(
        text.contains(&format!("fd3={want}")),
        "the activated socket is not the container's descriptor 3 (want {want}): {text:?}"
    );
    assert!(text.contains("listen=1,1"), "{text:?}");
    b.assert_nothing_left(REPORT_FDS);
}

#[test]
fn a_relative_pid_file_is_relative_to_the_callers_cwd() {
    let b = Bundle::new(&["sleep", "31512"]);
    fs::create_dir(b.path().join("here")).unwrap();
    let mut cmd = b.cmd(&[
        "create",
        "--pid-file",
        "init.pid",
        "--bundle",
        b.path().to_str().unwrap(),
        &b.id,
    ]);
    cmd.current_dir(b.path().join("here"))
        .stdin(Stdio::null())
        .stdout(fs::File::create(b.path().join("create.out")).unwrap())
        .stderr(fs::File::create(b.path().join("create.err")).unwrap());
    let mut child = cmd.spawn().unwrap();
    assert!(exits_within(child.id() as i32, 60), "create did not finish");
    assert!(
        child.wait().unwrap().success(),
        "create: {}",
        fs::read_to_string(b.path().join("create.err")).unwrap()
    );
    let file = b.path().join("here/init.pid");
    let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert_eq!(text.trim().parse::<i32>().ok(), Some(b.pid()), "{text:?}");
    b.must(&["start", &b.id]);

    // exec's --pid-file alike.
    let mut cmd = b.cmd(&[
        "exec",
        "-d",
        "--pid-file",
        "exec.pid",
        &b.id,
        "sleep",
        "31513",
    ]);
    // Files, not pipes: the detached process keeps its stdio.
    cmd.current_dir(b.path().join("here"))
        .stdin(Stdio::null())
        .stdout(fs::File::create(b.path().join("exec.out")).unwrap())
        .stderr(fs::File::create(b.path().join("exec.err")).unwrap());
    let mut child = cmd.spawn().unwrap();
    assert!(
        exits_within(child.id() as i32, 30),
        "exec -d did not finish"
    );
    assert!(
        child.wait().unwrap().success(),
        "exec -d: {}",
        fs::read_to_string(b.path().join("exec.err")).unwrap()
    );
    let text = fs::read_to_string(b.path().join("here/exec.pid")).unwrap();
    let pid: i32 = text.trim().parse().unwrap();
    // The process may still be the runtime's own for a moment (runc's `runc init`): it
    // becomes `sleep` with its exec, which `exec -d` does not wait for.
    wait_until(20, "the pid file's process to be the exec'd one", || {
        fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == b"sleep\x0031513\x00")
    });
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31512");
    b.assert_nothing_left("sleep 31513");
}
