//! Real bundles and the real binary, driven the way runc's users drive runc. Each test gets
//! its own state root, bundle, container id and cgroup, so tests run in parallel.
#![allow(dead_code)]

use std::fs::{self, File};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BUSYBOX: &str = "/bin/busybox";

/// The binary under test: cargo's, or `DAVIT_TEST_BIN` where the tests run away from their build
/// (the cross-built tests inside the ARM boards).
pub fn davit_bin() -> String {
    std::env::var("DAVIT_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_davit").to_owned())
}

/// Which runtime the tests drive: davit, or a peer (`DAVIT_TEST_BIN=/usr/sbin/runc`) given the
/// same tests so that a peer behaviour is checked against the peer itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Davit,
    Runc,
    Crun,
}

pub fn runtime() -> Runtime {
    let bin = davit_bin();
    match Path::new(&bin).file_name().and_then(|n| n.to_str()) {
        Some(n) if n.starts_with("runc") => Runtime::Runc,
        Some(n) if n.starts_with("crun") => Runtime::Crun,
        _ => Runtime::Davit,
    }
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

pub struct Bundle {
    /// The davit binary this bundle's commands run (a test may point it at a copy).
    pub bin: PathBuf,
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub id: String,
    pub cgroup: String,
}

impl Bundle {
    /// A busybox bundle whose process runs `args`, in cgroup `/davit-test/<id>`.
    pub fn new(args: &[&str]) -> Bundle {
        assert!(
            nix::unistd::geteuid().is_root(),
            "these tests start real containers: run them as root"
        );
        assert!(
            Path::new(BUSYBOX).exists(),
            "{BUSYBOX} missing: run testbeds/setup.sh (installs busybox-static)"
        );
        let dir = tempfile::Builder::new()
            .prefix("davit-test")
            .tempdir()
            .unwrap();
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "dev", "proc", "sys", "tmp", "etc"] {
            fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
        let list = Command::new(BUSYBOX).arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" {
                let _ = symlink("busybox", rootfs.join("bin").join(applet));
            }
        }
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let id = format!("t{}-{n}", std::process::id());
        let root = dir.path().join("state");
        let b = Bundle {
            bin: PathBuf::from(davit_bin()),
            cgroup: format!("/davit-test/{id}"),
            dir,
            root,
            id,
        };
        let out = b.davit(&["spec", "--bundle", b.path().to_str().unwrap()]);
        assert!(out.status.success(), "davit spec: {}", stderr(&out));
        b.edit(|c| {
            c["process"]["args"] = json!(args);
            // runc's and crun's `spec` ask for a terminal; davit's does not.
            c["process"]["terminal"] = json!(false);
            c["linux"]["cgroupsPath"] = json!(b.cgroup);
        });
        b
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> Value {
        serde_json::from_slice(&fs::read(self.path().join("config.json")).unwrap()).unwrap()
    }

    pub fn edit(&self, f: impl FnOnce(&mut Value)) {
        let mut c = self.config();
        f(&mut c);
        fs::write(
            self.path().join("config.json"),
            serde_json::to_vec_pretty(&c).unwrap(),
        )
        .unwrap();
    }

    /// `davit --root <this test's root> ARGS`, stdio captured.
    pub fn davit(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).args(args);
        c.env_remove("RUST_BACKTRACE");
        c
    }

    /// `davit create` with the container's stdio on files in the bundle: a pipe would stay
    /// open as long as the container runs. Returns davit's status and its stderr.
    pub fn create(&self, extra: &[&str]) -> (bool, String) {
        let err_path = self.path().join("create.err");
        let mut c = self.cmd(&["create", "--bundle", self.path().to_str().unwrap()]);
        c.args(extra).arg(&self.id);
        c.stdin(Stdio::null())
            .stdout(File::create(self.path().join("create.out")).unwrap())
            .stderr(File::create(&err_path).unwrap());
        let status = c.status().unwrap();
        (status.success(), fs::read_to_string(err_path).unwrap())
    }

    pub fn must(&self, args: &[&str]) -> Output {
        let out = self.davit(args);
        assert!(
            out.status.success(),
            "davit {args:?} failed: {}",
            stderr(&out)
        );
        out
    }

    pub fn state(&self) -> Value {
        let out = self.must(&["state", &self.id]);
        serde_json::from_slice(&out.stdout).expect("state is JSON")
    }

    pub fn status(&self) -> String {
        self.state()["status"].as_str().unwrap().to_owned()
    }

    pub fn pid(&self) -> i32 {
        self.state()["pid"].as_i64().unwrap() as i32
    }

    /// The container's directory in one cgroup v1 controller, or in the v2 hierarchy.
    pub fn cgroup_dir(&self, controller: &str) -> PathBuf {
        if cgroup_v2() {
            PathBuf::from(format!("/sys/fs/cgroup{}", self.cgroup))
        } else {
            PathBuf::from(format!("/sys/fs/cgroup/{controller}{}", self.cgroup))
        }
    }

    /// Asserts that the container left nothing behind: no state, no cgroup, no process
    /// carrying `marker` in its command line.
    pub fn assert_nothing_left(&self, marker: &str) {
        assert!(
            !self.root.join(&self.id).exists(),
            "state directory of {} left behind",
            self.id
        );
        for ctl in ["memory", "pids", "freezer", "cpu", "devices"] {
            let d = self.cgroup_dir(ctl);
            assert!(!d.exists(), "cgroup {} left behind", d.display());
        }
        let left: Vec<String> = processes_with(marker)
            .iter()
            .map(|p| {
                let status = fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
                format!(
                    "{p}: {}",
                    status.lines().take(7).collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        assert!(
            left.is_empty(),
            "processes with {marker:?} left behind: {left:?}"
        );
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = self.davit(&["delete", "--force", &self.id]);
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Pids whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(marker) {
                found.push(pid);
            }
        }
    }
    found
}

/// Waits for a condition that another process brings about, failing after `secs`.
pub fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Blocks until process `pid` (not our child) has exited, via a pidfd.
pub fn wait_exit(pid: i32, secs: u64) {
    assert!(
        exits_within(pid, secs),
        "process {pid} did not exit within {secs}s"
    );
}

/// Checks a state document against runtime-spec's State schema (schema/state-schema.json).
pub fn assert_state_schema(s: &Value) {
    let obj = s.as_object().expect("state is an object");
    for key in ["ociVersion", "id", "status", "bundle"] {
        assert!(obj.contains_key(key), "state lacks required {key}: {s}");
    }
    assert!(s["ociVersion"].as_str().is_some_and(|v| !v.is_empty()));
    assert!(s["id"].as_str().is_some_and(|v| !v.is_empty()));
    let status = s["status"].as_str().unwrap();
    assert!(
        ["creating", "created", "running", "stopped"].contains(&status),
        "status {status:?} is not one of the spec's"
    );
    assert!(
        s["bundle"].as_str().is_some_and(|b| b.starts_with('/')),
        "bundle must be an absolute path: {s}"
    );
    if let Some(pid) = obj.get("pid") {
        assert!(pid.as_i64().is_some_and(|p| p >= 0), "pid: {pid}");
    }
    if matches!(status, "created" | "running") {
        assert!(
            s["pid"].as_i64().is_some_and(|p| p > 0),
            "pid required: {s}"
        );
    }
    if let Some(a) = obj.get("annotations") {
        assert!(
            a.as_object()
                .is_some_and(|m| m.values().all(Value::is_string))
        );
    }
}

/// Whether process `pid` exits within `secs` (it may be our child: it is not reaped here).
pub fn exits_within(pid: i32, secs: u64) -> bool {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return true;
    }
    let mut pfd = libc::pollfd {
        fd: fd as i32,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: pfd is a valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, (secs * 1000) as i32) };
    // SAFETY: fd was returned by pidfd_open above.
    unsafe { libc::close(fd as i32) };
    n == 1
}

/// Runs `cmd` to its end with its output captured, failing the test (and killing it) if it
/// has not finished after `secs`: for commands that must never wait on another.
pub fn output_within(mut cmd: Command, secs: u64, what: &str) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if !exits_within(child.id() as i32, secs) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what}: still running after {secs} s");
    }
    child.wait_with_output().unwrap()
}

/// Runs `cmd` with its stdout a pipe whose reader has already gone (`cmd | head` once head
/// has left) and its stderr captured, failing the test (and killing it) after `secs`.
pub fn output_into_closed_pipe(mut cmd: Command, secs: u64, what: &str) -> Output {
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(r);
    cmd.stdin(Stdio::null()).stdout(w).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if !exits_within(child.id() as i32, secs) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what}: still running after {secs} s");
    }
    child.wait_with_output().unwrap()
}

/// A hook that tells the test it is running and then blocks until the test lets it go:
/// holds a create (createRuntime) or a start (poststart) in the middle of its work.
pub struct Gate {
    ready: PathBuf,
    gate: PathBuf,
}

impl Gate {
    /// Adds the hook to `b`'s config under `hooks.<kind>`.
    pub fn install(b: &Bundle, kind: &str) -> Gate {
        let g = Gate {
            ready: b.path().join(format!("{kind}.ready")),
            gate: b.path().join(format!("{kind}.gate")),
        };
        nix::unistd::mkfifo(&g.gate, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let script = format!(
            "cat >/dev/null; touch {}; cat {} >/dev/null",
            g.ready.display(),
            g.gate.display()
        );
        b.edit(|c| {
            c["hooks"] = json!({ kind: [{"path": "/bin/sh", "args": ["sh", "-c", script]}] })
        });
        g
    }

    pub fn wait_ready(&self) {
        wait_until(30, "the hook to run", || self.ready.exists());
    }

    /// Lets the hook finish.
    pub fn open(&self) {
        // Opening the write end waits for the hook's reader; closing it gives it EOF.
        drop(fs::OpenOptions::new().write(true).open(&self.gate).unwrap());
    }
}

impl Drop for Gate {
    /// A test that failed with its hook still blocked lets it go, or the bundle's cleanup
    /// would wait for the create or start that the hook holds. Non-blocking: with no hook
    /// reading, there is nothing to release.
    fn drop(&mut self) {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.gate);
    }
}

/// Waits until process `pid` has a handler for `sig` (SigCgt in /proc/PID/status): a
/// pid-namespace init drops a signal it has no handler for, so a test signals only after this.
pub fn wait_for_handler(pid: i32, sig: i32) {
    wait_until(30, "the process to set its signal handler", || {
        fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
                .is_some_and(|m| m & (1 << (sig - 1)) != 0)
        })
    });
}

/// The descriptor a runtime sends on a console socket (the pty master), once it connects.
pub fn receive_fd(listener: &std::os::unix::net::UnixListener) -> std::os::fd::OwnedFd {
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        std::os::fd::AsRawFd::as_raw_fd(&conn),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel just installed this descriptor for us.
            return unsafe { std::os::fd::FromRawFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no descriptor received on the console socket");
}

/// Reads the pty master until `marker` shows up; a read never waits past the deadline, so a
/// container that prints nothing fails the test instead of hanging it.
pub fn read_until(mut pty: std::fs::File, marker: &str, secs: u64) -> String {
    use std::io::Read;
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

/// SIGKILLs every process in cgroup directory `dir` and waits (bounded) for each to exit; a
/// directory that is gone or unreadable has none.
pub fn kill_cgroup_procs(dir: &Path) {
    if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
        for p in procs.lines().filter_map(|p| p.parse().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
            exits_within(p, 10);
        }
    }
}
